//! Cost of one Prometheus SLI fetch's work once the bytes arrived: parse the
//! exposition, select the histogram, take the quantile of its increase; at
//! 10, 100 and 1 000 histograms of 20 buckets on the page (the wanted one
//! last). The baseline measured in the same run is a plain line count of the
//! same text (`str::lines`), so the figure of docs/benchmarks.md is a ratio
//! to "just looking at every line once". The fetch runs on its own thread,
//! never on the tick path; this shows what it costs that thread.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serenity_sli::prometheus::{parse, quantile_of_increase, select_buckets, Increase};
use std::fmt::Write as _;

const BOUNDS: [f64; 19] = [
    0.00005, 0.0001, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075,
    0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// `histograms` histograms of 20 buckets (19 bounds and +Inf), with _sum
/// and _count, HELP and TYPE: the one the SLI reads is `app_latency_seconds`
/// with `job="memcached"`, written last; `scrape` shifts the counts.
fn page(histograms: usize, scrape: u64) -> String {
    let mut out = String::new();
    for h in 0..histograms {
        let (name, job) = if h + 1 == histograms {
            ("app_latency_seconds".to_owned(), "memcached")
        } else {
            (format!("other_{h}_seconds"), "other")
        };
        let _ = writeln!(
            out,
            "# HELP {name} request latency\n# TYPE {name} histogram"
        );
        let mut cumulative = 0u64;
        for (i, le) in BOUNDS.iter().enumerate() {
            cumulative += (i as u64 + 1) * (scrape + 3);
            let _ = writeln!(
                out,
                "{name}_bucket{{job=\"{job}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{job=\"{job}\",le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "{name}_sum{{job=\"{job}\"}} {}",
            cumulative as f64 * 0.0004
        );
        let _ = writeln!(out, "{name}_count{{job=\"{job}\"}} {cumulative}");
    }
    out
}

fn bench(c: &mut Criterion) {
    let matchers = vec![("job".to_owned(), "memcached".to_owned())];
    let mut group = c.benchmark_group("sli_fetch");
    group.sample_size(30);
    for n in [10usize, 100, 1_000] {
        let (before, after) = (page(n, 1), page(n, 2));
        group.throughput(Throughput::Bytes(after.len() as u64));
        let previous = select_buckets(&parse(&before), "app_latency_seconds", &matchers).unwrap();
        group.bench_with_input(BenchmarkId::new("lines_baseline", n), &after, |b, text| {
            b.iter(|| text.lines().count())
        });
        group.bench_with_input(
            BenchmarkId::new("parse_select_quantile", n),
            &after,
            |b, text| {
                b.iter(|| {
                    let page = parse(text);
                    let current = select_buckets(&page, "app_latency_seconds", &matchers).unwrap();
                    match quantile_of_increase(0.99, &previous, &current) {
                        Increase::Quantile(q) => q,
                        other => panic!("the bench's increase has a quantile: {other:?}"),
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
