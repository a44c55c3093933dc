// GoogleTest tests of the C++ wrapper over the C ABI, linked against the
// Rust static library built with the `test-stages` feature, which adds only
// the `test_panic` stage (for the panic boundary and poisoning; no real
// stage can be made to panic). Every other pipeline here is made of real
// stages: node overload with kill_all, and overload with pause_estimator
// for the estimator valve. Also run under valgrind by ctest.

#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <serenity/serenity.hpp>

#include "usage_builder.hpp"

using serenity::ConfigError;
using serenity::Correction;
using serenity::Estimator;
using serenity::LogLevel;
using serenity::QoSController;
using serenity::Slack;
using serenity::Status;
using serenity::tests::Exec;
using serenity::tests::usage;

using std::string;
using std::vector;

namespace {

const char ESTIMATOR_TOML[] =
  "kind = \"estimator\"\n"
  "[[stage]]\ntype = \"valve\"\n"
  "[[stage]]\ntype = \"pr_only\"\n"
  "[[stage]]\ntype = \"slack\"\nfraction = 0.8\n";

// Node overload above a quarter of the agent's cpus (2 of 8 in tickA and
// tickB), answered by killing every best-effort executor.
const char QOS_TOML[] =
  "kind = \"qos\"\ninterval_secs = 3.5\n"
  "[[stage]]\ntype = \"valve\"\n"
  "[[stage]]\ntype = \"overload\"\nthreshold = 0.25\n"
  "[[stage]]\ntype = \"kill_all\"\n";

// The same overload pauses the process's estimator while it lasts.
const char PAUSING_QOS_TOML[] =
  "kind = \"qos\"\n"
  "[[stage]]\ntype = \"overload\"\nthreshold = 0.25\n"
  "[[stage]]\ntype = \"pause_estimator\"\n";


string tickA()
{
  return usage(100, 8, {{"pr1", false, 4, 10}, {"be1", true, 1, 5}});
}


string tickB()
{
  return usage(101, 8, {{"pr1", false, 4, 12}, {"be1", true, 1, 5.5}});
}


struct Captured
{
  std::mutex mutex;
  vector<string> lines;

  vector<string> matching(const string& needle)
  {
    std::lock_guard<std::mutex> lock(mutex);
    vector<string> out;
    for (size_t i = 0; i < lines.size(); i++) {
      if (lines[i].find(needle) != string::npos) {
        out.push_back(lines[i]);
      }
    }
    return out;
  }
};


Captured& captured()
{
  static Captured* c = new Captured();
  return *c;
}


void captureLogs()
{
  Status s = serenity::setLogHandler(
      [](LogLevel level, const string& target, const string& message) {
        std::lock_guard<std::mutex> lock(captured().mutex);
        captured().lines.push_back(
            std::to_string(static_cast<uint32_t>(level)) + " " + target +
            ": " + message);
      },
      LogLevel::Trace);
  ASSERT_TRUE(s.ok()) << s.message();
}

} // namespace {


TEST(Version, HeaderAndLibraryAgree)
{
  EXPECT_TRUE(serenity::abiCompatible());
  EXPECT_EQ(0u, serenity::version().find("serenity-ffi "));
}


TEST(Estimator, AnswersSlackNetOfRevocableAllocations)
{
  Estimator e = Estimator::fromText("cpp-est.toml", ESTIMATOR_TOML);
  Slack slack;
  ASSERT_TRUE(e.update(tickA(), &slack).ok());
  EXPECT_EQ(0.0, slack.cpus);
  Status s = e.update(tickB(), &slack);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_NEAR(1.0, slack.cpus, 1e-9);
  EXPECT_FALSE(slack.stopped);
  serenity::Metrics m;
  ASSERT_TRUE(e.metrics(&m).ok());
  EXPECT_EQ(2u, m.ticks);
  EXPECT_NEAR(1.0, m.last_slack_cpus, 1e-9);
}


TEST(Estimator, ConfigErrorListsEveryProblem)
{
  try {
    Estimator::fromText(
        "broken.toml",
        "kind = \"estimator\"\n[[stage]]\ntype = \"slack\"\nfraction = 3\n",
        {"nostage.key=1"});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(SERENITY_RESULT_INVALID_CONFIG, e.code());
    ASSERT_EQ(2u, e.problems().size()) << e.what();
    // The override's problem (no file position) and the file's.
    const serenity::Problem& o = e.problems()[0];
    EXPECT_EQ(0u, o.line);
    EXPECT_EQ("", o.file);
    EXPECT_NE(string::npos, o.origin.find("nostage.key=1")) << o.origin;
    const serenity::Problem& p = e.problems()[1];
    EXPECT_EQ("broken.toml", p.file);
    EXPECT_EQ(4u, p.line);
    EXPECT_EQ(12u, p.column);
    EXPECT_EQ(1u, p.stageIndex);
    EXPECT_EQ("slack", p.stageType);
    EXPECT_EQ("fraction", p.key);
    EXPECT_EQ("3", p.value);
    EXPECT_EQ(o.message + "\n" + p.message, string(e.what()));
  }
}


TEST(Estimator, UnreadableFileIsAnIoError)
{
  try {
    Estimator::fromFile("/nonexistent/estimator.toml");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(SERENITY_RESULT_IO, e.code());
    EXPECT_EQ(0u, string(e.what()).find("/nonexistent/estimator.toml: "));
  }
}


TEST(Estimator, FromFileWithOverrides)
{
  const string path = ::testing::TempDir() + "serenity-cpp-est.toml";
  {
    std::ofstream out(path.c_str());
    out << ESTIMATOR_TOML;
  }
  Estimator e = Estimator::fromFile(path, {"slack.fraction=0.3"});
  Slack slack;
  e.update(tickA(), &slack);
  ASSERT_TRUE(e.update(tickB(), &slack).ok());
  EXPECT_EQ(0.0, slack.cpus); // cap 0.3 * 8 - 2 = 0.4, minus 1 revocable.
  std::remove(path.c_str());
}


TEST(Estimator, HostileBytesAreRefusedWithZeroSlackAndALogLine)
{
  captureLogs();
  Estimator e = Estimator::fromText("cpp-hostile.toml", ESTIMATOR_TOML);
  e.update(tickA(), nullptr);
  const string b = tickB();
  vector<string> inputs = {
    b.substr(0, b.size() / 2),
    string(40, '\xff'),
    string("\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x40", 10),
  };
  for (size_t i = 0; i < inputs.size(); i++) {
    Slack slack;
    slack.cpus = 42;
    Status s = e.update(inputs[i], &slack);
    EXPECT_EQ(SERENITY_RESULT_INVALID_USAGE, s.code()) << i;
    EXPECT_EQ(0.0, slack.cpus) << i;
    EXPECT_NE(string::npos, s.message().find("not a valid mesos.ResourceUsage"))
      << s.message();
  }
  EXPECT_EQ(3u, captured().matching("[cpp-hostile] refused").size());
  EXPECT_EQ(0u, captured().matching("[cpp-hostile] refused")[0].find("1 "));
  Slack slack;
  ASSERT_TRUE(e.update(b, &slack).ok());
  EXPECT_NEAR(1.0, slack.cpus, 1e-9);
  serenity::Metrics m;
  ASSERT_TRUE(e.metrics(&m).ok());
  EXPECT_EQ(3u, m.errors);
}


TEST(Estimator, ValveOpensDoNotPileUp)
{
  Estimator e = Estimator::fromText("cpp-valve.toml", ESTIMATOR_TOML);
  e.update(tickA(), nullptr);
  // Opens of an open valve are not banked: one close still closes it.
  ASSERT_TRUE(e.openValve().ok());
  ASSERT_TRUE(e.openValve().ok());
  ASSERT_TRUE(e.closeValve().ok());
  serenity::ValveState v;
  ASSERT_TRUE(e.valveState(&v).ok());
  EXPECT_FALSE(v.open);
  EXPECT_FALSE(v.switch_open);
  EXPECT_EQ(0u, v.holds);
  EXPECT_TRUE(v.has_valve_stage);
  Slack slack;
  ASSERT_TRUE(e.update(tickB(), &slack).ok());
  EXPECT_TRUE(slack.stopped);
  EXPECT_EQ(0.0, slack.cpus);
  ASSERT_TRUE(e.openValve().ok());
  ASSERT_TRUE(e.valveState(&v).ok());
  EXPECT_TRUE(v.open);
}


TEST(Estimator, MovedFromHandleAnswersNullParameter)
{
  Estimator a = Estimator::fromText("cpp-move.toml", ESTIMATOR_TOML);
  Estimator b = std::move(a);
  EXPECT_FALSE(a.valid());
  EXPECT_TRUE(b.valid());
  Slack slack;
  EXPECT_EQ(SERENITY_RESULT_NULL_PARAMETER, a.update(tickA(), &slack).code());
  EXPECT_TRUE(b.update(tickA(), &slack).ok());
}


TEST(Estimator, CallableFromManyThreads)
{
  Estimator e = Estimator::fromText("cpp-threads.toml", ESTIMATOR_TOML);
  const string a = tickA();
  const string b = tickB();
  std::atomic<int> failures(0);
  vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.push_back(std::thread([&]() {
      for (int i = 0; i < 25; i++) {
        Slack slack;
        if (!e.update(i % 2 == 0 ? a : b, &slack).ok()) {
          failures++;
        }
        serenity::Metrics m;
        if (!e.metrics(&m).ok()) {
          failures++;
        }
      }
    }));
  }
  for (size_t i = 0; i < threads.size(); i++) {
    threads[i].join();
  }
  EXPECT_EQ(0, failures.load());
  serenity::Metrics m;
  ASSERT_TRUE(e.metrics(&m).ok());
  EXPECT_EQ(100u, m.ticks);
}


TEST(QoSController, KillsBestEffortWorkOnContention)
{
  QoSController q = QoSController::fromText("cpp-qos.toml", QOS_TOML);
  double secs = 0;
  ASSERT_TRUE(q.intervalSecs(&secs).ok());
  EXPECT_EQ(3.5, secs);
  vector<Correction> corrections;
  ASSERT_TRUE(q.update(tickA(), &corrections).ok());
  EXPECT_TRUE(corrections.empty());
  // pr1 uses 2 cpus and be1 0.5: 2.5 > 0.25 * 8 with best-effort work
  // among them. kill_all kills be1 and never the production pr1.
  ASSERT_TRUE(q.update(tickB(), &corrections).ok());
  ASSERT_EQ(1u, corrections.size());
  EXPECT_EQ("fw-1", corrections[0].frameworkId);
  EXPECT_EQ("be1", corrections[0].executorId);
  EXPECT_EQ("container-be1", corrections[0].containerId);
  EXPECT_EQ(1u, corrections[0].executorIndex);
  EXPECT_EQ("kill_all: 1 contention(s), first from overload",
            corrections[0].reason);
  // Copies stay valid after the next update.
  vector<Correction> next;
  ASSERT_TRUE(q.update(tickA(), &next).ok());
  EXPECT_EQ("be1", corrections[0].executorId);
  serenity::Metrics m;
  ASSERT_TRUE(q.metrics(&m).ok());
  EXPECT_EQ(1u, m.corrections_total);
}


TEST(QoSController, PausesTheEstimatorWhileOverloaded)
{
  // Creating the estimator resets the process-wide estimator valve.
  Estimator e = Estimator::fromText("cpp-paused.toml", ESTIMATOR_TOML);
  serenity::ValveState v;
  Slack slack;
  {
    QoSController q =
      QoSController::fromText("cpp-pauser.toml", PAUSING_QOS_TOML);
    vector<Correction> corrections;
    ASSERT_TRUE(e.update(tickA(), &slack).ok());
    ASSERT_TRUE(q.update(tickA(), &corrections).ok());
    ASSERT_TRUE(e.valveState(&v).ok());
    EXPECT_TRUE(v.open); // No usage rate yet: no overload.
    // 2 + 0.5 cpus > 0.25 * 8 with best-effort work: one hold.
    ASSERT_TRUE(q.update(tickB(), &corrections).ok());
    EXPECT_TRUE(corrections.empty()); // Pausing is not a correction.
    ASSERT_TRUE(e.valveState(&v).ok());
    EXPECT_FALSE(v.open);
    EXPECT_EQ(1u, v.holds);
    // An operator's open cannot cancel the controller's hold.
    ASSERT_TRUE(e.openValve().ok());
    ASSERT_TRUE(e.valveState(&v).ok());
    EXPECT_FALSE(v.open);
    ASSERT_TRUE(e.update(tickB(), &slack).ok());
    EXPECT_TRUE(slack.stopped);
    EXPECT_EQ(0.0, slack.cpus);
    // 0.5 + 0.5 cpus: the overload is over, the hold is released.
    const string calm =
      usage(102, 8, {{"pr1", false, 4, 12.5}, {"be1", true, 1, 6}});
    ASSERT_TRUE(q.update(calm, &corrections).ok());
    ASSERT_TRUE(e.valveState(&v).ok());
    EXPECT_TRUE(v.open);
    EXPECT_EQ(0u, v.holds);
    ASSERT_TRUE(e.update(calm, &slack).ok());
    EXPECT_FALSE(slack.stopped);
    EXPECT_NEAR(2.5, slack.cpus, 1e-9); // 4 - 0.5 used, minus 1 revocable.
    // Overloaded again; destroying the controller releases its hold.
    ASSERT_TRUE(q.update(
        usage(103, 8, {{"pr1", false, 4, 14.5}, {"be1", true, 1, 6.5}}),
        &corrections).ok());
    ASSERT_TRUE(e.valveState(&v).ok());
    EXPECT_FALSE(v.open);
  }
  ASSERT_TRUE(e.valveState(&v).ok());
  EXPECT_TRUE(v.open);
  EXPECT_EQ(0u, v.holds);
}


TEST(QoSController, ClosedValveAnswersNoCorrections)
{
  QoSController q = QoSController::fromText("cpp-qos-valve.toml", QOS_TOML);
  vector<Correction> corrections;
  q.update(tickA(), &corrections);
  ASSERT_TRUE(q.closeValve().ok());
  ASSERT_TRUE(q.update(tickB(), &corrections).ok());
  EXPECT_TRUE(corrections.empty());
  ASSERT_TRUE(q.openValve().ok());
}


TEST(QoSController, GarbageIsRefusedWithNoCorrections)
{
  QoSController q = QoSController::fromText("cpp-qos-bad.toml", QOS_TOML);
  vector<Correction> corrections(3);
  Status s = q.update(string("\x0b\x0c", 2), &corrections);
  EXPECT_EQ(SERENITY_RESULT_INVALID_USAGE, s.code());
  EXPECT_TRUE(corrections.empty());
  EXPECT_FALSE(q.lastError().empty());
}


TEST(QoSController, APanicPoisonsTheHandle)
{
  QoSController q = QoSController::fromText(
      "cpp-panic.toml",
      "kind = \"qos\"\n[[stage]]\ntype = \"test_panic\"\non_tick = 1\n");
  vector<Correction> corrections;
  EXPECT_EQ(SERENITY_RESULT_PANIC, q.update(tickA(), &corrections).code());
  EXPECT_EQ(SERENITY_RESULT_POISONED, q.update(tickA(), &corrections).code());
  serenity::Metrics m;
  EXPECT_EQ(SERENITY_RESULT_POISONED, q.metrics(&m).code());
}


TEST(QoSController, WrongKindIsAConfigError)
{
  EXPECT_THROW(
      QoSController::fromText("est.toml", ESTIMATOR_TOML),
      ConfigError);
}


TEST(Log, HandlerCanBeReplacedAndRemoved)
{
  std::atomic<int> calls(0);
  ASSERT_TRUE(serenity::setLogHandler(
      [&calls](LogLevel, const string&, const string&) { calls++; },
      LogLevel::Info).ok());
  Estimator::fromText("cpp-log.toml", ESTIMATOR_TOML);
  EXPECT_GE(calls.load(), 1);
  ASSERT_TRUE(serenity::setLogHandler(serenity::LogHandler()).ok());
  const int before = calls.load();
  Estimator::fromText("cpp-log2.toml", ESTIMATOR_TOML);
  EXPECT_EQ(before, calls.load());
  captureLogs(); // Leave the capture installed for other tests.
}


TEST(ValveRequest, TheLibraryParserReadsQueryThenBodyAndSaysWhyItRefuses)
{
  bool open = false;
  ASSERT_TRUE(serenity::parseValveRequest("enabled=true", "", &open).ok());
  EXPECT_TRUE(open);
  ASSERT_TRUE(serenity::parseValveRequest("", "enabled=false", &open).ok());
  EXPECT_FALSE(open);
  // The query wins when it has parameters.
  ASSERT_TRUE(
      serenity::parseValveRequest("enabled=true", "enabled=false", &open).ok());
  EXPECT_TRUE(open);

  open = true;
  serenity::Status s = serenity::parseValveRequest("", "enabled=maybe", &open);
  EXPECT_EQ(SERENITY_RESULT_INVALID_REQUEST, s.code());
  EXPECT_EQ(
      "Unknown value 'maybe' of 'enabled'. Possible values: true / false.",
      s.message());
  EXPECT_TRUE(open) << "a refused request leaves the answer alone";
  EXPECT_EQ(
      SERENITY_RESULT_INVALID_REQUEST,
      serenity::parseValveRequest("enabled=true&enabled=true", "", &open)
        .code());
  // Bytes after a NUL are part of the request, not its end.
  const string withNul("enabled=true\0x", 14);
  EXPECT_EQ(
      SERENITY_RESULT_INVALID_REQUEST,
      serenity::parseValveRequest("", withNul, &open).code());
}


namespace {

// The number after `"key":` in a JSON text, or -1.
long long jsonNumber(const string& json, const string& key)
{
  const string needle = "\"" + key + "\":";
  size_t at = json.find(needle);
  if (at == string::npos) {
    return -1;
  }
  return std::stoll(json.substr(at + needle.size()));
}

} // namespace {


TEST(NodeSummary, QoSTicksAreCountedWithTheirContentionsAndKills)
{
  string before;
  ASSERT_TRUE(serenity::nodeSummary(&before).ok());
  EXPECT_EQ(0u, before.find("{\"schema\":1,")) << before;
  long long ticks = jsonNumber(before, "ticks");
  ASSERT_GE(ticks, 0) << before;

  QoSController q = QoSController::fromText("summary-qos.toml", QOS_TOML);
  vector<Correction> corrections;
  ASSERT_TRUE(q.update(tickA(), &corrections).ok());
  ASSERT_TRUE(q.update(tickB(), &corrections).ok());
  ASSERT_EQ(1u, corrections.size());

  string after;
  ASSERT_TRUE(serenity::nodeSummary(&after).ok());
  EXPECT_EQ(ticks + 2, jsonNumber(after, "ticks")) << after;
  EXPECT_NE(string::npos, after.find("\"active\":true")) << after;
  EXPECT_NE(string::npos, after.find("\"detectors\":[\"overload\"]")) << after;
  EXPECT_NE(string::npos, after.find("\"reasons\":{\"overload\":")) << after;
  EXPECT_EQ('}', after.back()) << "the whole text, not a truncated one";
}
