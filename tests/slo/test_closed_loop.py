"""Unit tests of the bench's pure parts: window merging, quantiles, the
agent template renderer, the antagonist schedule, the scrape parsers.

    python3 -m unittest discover -s tests/slo -p 'test_*.py'
"""

import tempfile
import unittest
from pathlib import Path

import closed_loop as cl


def window(start, latencies_ns):
    """A load generator window whose histogram holds `latencies_ns`, each in
    a bucket [v, v + 1)."""
    hist = {}
    for v in latencies_ns:
        hist[v] = hist.get(v, 0) + 1
    return {"kind": "window", "start": start, "end": start + 1.0, "sent": len(latencies_ns),
            "errors": 0, "timeouts": 0, "samples": len(latencies_ns),
            "hist_ns": [[v, v + 1, c] for v, c in sorted(hist.items())]}


class MergeTest(unittest.TestCase):
    def test_the_ten_second_p99_is_that_of_all_latencies_not_a_mean_of_p99s(self):
        # Nine quiet seconds (1 ms) and one bad one (100 ms for 5 % of its
        # requests): merged, 0.5 % of the 10 s is slow, so p99 is quiet;
        # the mean of the ten 1-s p99s would be ~10.9 ms.
        ws = [window(100 + i, [1_000_000] * 100) for i in range(9)]
        ws.append(window(109, [1_000_000] * 95 + [100_000_000] * 5))
        tens = cl.ten_second_windows(ws, 100.0, 110.0, 10.0)
        self.assertEqual(len(tens), 1)
        self.assertAlmostEqual(tens[0]["p99_ms"], 1.0, places=3)
        self.assertEqual(tens[0]["samples"], 1000)
        # With 2 % slow requests overall, the p99 is the slow value.
        ws.append(window(110, [100_000_000] * 100))
        ws += [window(111 + i, [1_000_000] * 100) for i in range(9)]
        tens = cl.ten_second_windows(ws, 100.0, 120.0, 10.0)
        self.assertEqual([round(t["p99_ms"]) for t in tens], [1, 100])

    def test_windows_outside_the_phase_and_short_tails_are_left_out(self):
        ws = [window(t, [2_000_000]) for t in range(95, 126)]
        tens = cl.ten_second_windows(ws, 100.0, 124.0, 10.0)
        # [100, 110), [110, 120); the 4-s tail [120, 124) is under half a window.
        self.assertEqual([(t["start"], t["windows"]) for t in tens], [(100, 10), (110, 10)])

    def test_nearest_rank_over_merged_buckets(self):
        ws = [window(0, list(range(1, 101)))]
        self.assertEqual(cl.merged_quantile(ws, 0.99), 99 / 1e6)
        self.assertEqual(cl.merged_quantile(ws, 0.5), 50 / 1e6)
        self.assertIsNone(cl.merged_quantile([], 0.99))


class TemplateTest(unittest.TestCase):
    values = {p: f"<{p}>" for p in cl.PLACEHOLDERS}

    def render(self, text):
        with tempfile.TemporaryDirectory() as d:
            t, out = Path(d) / "t.toml.in", Path(d) / "t.toml"
            t.write_text(text)
            cl.render_template(t, self.values, out)
            return out.read_text()

    def test_any_subset_of_the_placeholders_renders(self):
        self.assertEqual(self.render('a = "${production}"\nb = "$slo_ms"\n'),
                         'a = "<production>"\nb = "<slo_ms>"\n')

    def test_an_unknown_placeholder_is_named(self):
        with self.assertRaisesRegex(cl.BenchError, r"unknown placeholder \$\{slo_p99\}"):
            self.render("x = ${slo_p99}\n")

    def test_the_shipped_cusum_template_uses_only_known_placeholders(self):
        text = (cl.HERE / "agent-cusum.toml.in").read_text()
        out = cl.string.Template(text).substitute(self.values)
        self.assertIn('qos = "<pipelines>/qos-cusum.toml"', out)
        self.assertIn('action = "kill"', out)
        self.assertIn('best_effort = "<best_effort>"', out)


class ScheduleTest(unittest.TestCase):
    def test_schedules(self):
        self.assertEqual(cl.parse_schedule("cache", 90), [(0.0, "cache")])
        self.assertEqual(cl.parse_schedule("mix", 90),
                         [(0.0, "cpu"), (30.0, "cache"), (60.0, "stream")])
        self.assertEqual(cl.parse_schedule("stream:20,cpu:0", 90),
                         [(0.0, "cpu"), (20.0, "stream")])
        with self.assertRaisesRegex(cl.BenchError, "unknown antagonist 'gpu'"):
            cl.parse_schedule("gpu", 90)
        with self.assertRaisesRegex(cl.BenchError, "must start at offset 0"):
            cl.parse_schedule("cpu:5", 90)


class AggregateTest(unittest.TestCase):
    def run_(self, controller, p99s, over, be, idle, kills):
        return {"controller": controller, "windows": [{"p99_ms": p} for p in p99s],
                "windows_total": len(p99s), "windows_over": over, "best_effort_cpus": be,
                "production_cpus": 0.1, "loadgen_cpus": 0.2, "other_cpus": 0.0,
                "idle_left_cpus": idle, "kills": kills, "errors": 0, "timeouts": 0}

    def test_rounds_sum_windows_and_kills_and_share_is_total_over_total(self):
        runs = [self.run_("slo", [1.0, 2.0], 1, 0.4, 1.6, 1),
                self.run_("none", [3.0], 1, 1.6, 1.6, 0),
                self.run_("slo", [0.5, 0.7], 0, 1.2, 1.6, 0)]
        slo, none = cl.aggregate(runs)
        self.assertEqual((slo["controller"], slo["rounds"]), ("slo", 2))
        self.assertEqual((slo["windows_over"], slo["windows_total"], slo["kills"]), (1, 4, 1))
        self.assertEqual(slo["fraction_over"], 0.25)
        self.assertEqual(slo["p99_ms_median"], 0.85)
        self.assertEqual(slo["p99_ms_max"], 2.0)
        self.assertEqual(slo["best_effort_cpus"], 0.8)
        self.assertEqual(slo["best_effort_share_of_idle"], 0.5)
        self.assertEqual(none["windows_total"], 1)


class ReferenceRunTest(unittest.TestCase):
    def test_the_throttled_run_holds_best_effort_where_the_slo_controller_revokes_it(self):
        # The reference is only a reference if it is the shipped bench
        # agent's floor: the same quota, and SCHED_IDLE as that agent sets.
        text = (cl.HERE / "agent-slo.toml.in").read_text()
        allowance = text[text.index("[allowance]"):]
        floor = float(allowance.split("cpus_floor =")[1].split()[0])
        self.assertEqual(floor, cl.FLOOR_CPUS)
        self.assertIn("cpu_idle = true", allowance)
        self.assertTrue(set(cl.REFERENCE_RUNS) <= set(cl.CONTROLLERS))


class ScrapeTest(unittest.TestCase):
    def test_kill_corrections_are_read_from_the_agent_metrics(self):
        text = ('# TYPE serenity_corrections_total counter\n'
                'serenity_corrections_total{action="kill",mode="enforce"} 3\n'
                'serenity_corrections_total{action="freeze",mode="dry_run"} 1\n')
        self.assertEqual(cl.agent_kill_corrections(text), 3)
        self.assertEqual(cl.all_corrections(text)['{action="freeze",mode="dry_run"}'], 1)
        self.assertIsNone(cl.agent_kill_corrections(""))


if __name__ == "__main__":
    unittest.main()
