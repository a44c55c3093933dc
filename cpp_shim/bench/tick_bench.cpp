// One module tick against the agent's own protobuf work, on the same bytes.
//
//   serenity_tick_bench USAGE_FILE ESTIMATOR_TOML QOS_TOML [--rounds R] [--callgrind]
//
// USAGE_FILE holds ticks of serialized mesos.ResourceUsage, each a 4-byte
// little-endian length and the bytes (rust/core/examples/usage_file.rs writes
// the synthetic node). Phases, each a pass over every tick:
//
//   parse_fresh   libprotobuf ParseFromString into a fresh message per tick
//                 (the yardstick: what the agent itself pays to read a usage)
//   parse_reused  ParseFromString into one message reused across ticks
//   serialize     the adapter's serialize() (serenity_common.cpp) of the
//                 parsed message, once: what each module does before update
//
// Each of those three twice: with libmesos's generated code (built -O0 in
// ../shared/mesos) and, suffixed _o2, with Mesos's own mesos.proto compiled
// by this build (package serenity_bench, this build's optimisation): what a
// production agent's parser costs. The ratios are against parse_fresh_o2.
//   modules       both modules' update through the C ABI, as the shim runs
//                 them: the estimator's update, then the QoS controller's, on
//                 the same bytes (fresh handles each round, built untimed)
//   shim          what the two adapters pay together per tick: serialize,
//                 estimator update, serialize, QoS update
//
// Wall clock: R rounds, the phase order rotated each round; the median of
// the rounds' per-tick times, per executor, and as a ratio to parse_fresh.
// --callgrind: one round, each phase between CALLGRIND_ZERO_STATS and
// CALLGRIND_DUMP_STATS_AT(<phase>), for
//   valgrind --tool=callgrind serenity_tick_bench ... --callgrind
// (scripts/bench-tick.sh reads the dumps' totals).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <mesos/mesos.hpp>

#include "bench_mesos.pb.h"

#include <serenity/serenity.hpp>

#include "../mesos/serenity_common.hpp"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define SERENITY_HAVE_CALLGRIND 1
#endif
#endif
#ifndef SERENITY_HAVE_CALLGRIND
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(name)
#endif

namespace {

struct Args
{
  std::string usageFile;
  std::string estimatorToml;
  std::string qosToml;
  int rounds = 7;
  bool callgrind = false;
};


[[noreturn]] void usage(const std::string& why)
{
  std::cerr << "serenity_tick_bench: " << why << "\n"
            << "usage: serenity_tick_bench USAGE_FILE ESTIMATOR_TOML QOS_TOML"
            << " [--rounds R] [--callgrind]\n";
  std::exit(2);
}


Args parseArgs(int argc, char** argv)
{
  Args args;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--callgrind") {
      args.callgrind = true;
    } else if (a == "--rounds") {
      if (i + 1 >= argc) {
        usage("--rounds needs a number");
      }
      args.rounds = std::atoi(argv[++i]);
      if (args.rounds < 1) {
        usage(std::string("--rounds ") + argv[i] + " is not a positive number");
      }
    } else if (!a.empty() && a[0] == '-') {
      usage("unknown option " + a);
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 3) {
    usage("expected 3 files, got " + std::to_string(positional.size()));
  }
  args.usageFile = positional[0];
  args.estimatorToml = positional[1];
  args.qosToml = positional[2];
  return args;
}


std::vector<std::string> readTicks(const std::string& path)
{
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(path + ": cannot be opened");
  }
  std::vector<std::string> ticks;
  unsigned char header[4];
  while (in.read(reinterpret_cast<char*>(header), 4)) {
    uint32_t length = header[0] | (header[1] << 8) | (header[2] << 16) |
                      (static_cast<uint32_t>(header[3]) << 24);
    std::string bytes(length, '\0');
    if (!in.read(&bytes[0], length)) {
      throw std::runtime_error(
          path + ": record " + std::to_string(ticks.size() + 1) + " declares " +
          std::to_string(length) + " bytes but the file ends first");
    }
    ticks.push_back(std::move(bytes));
  }
  if (ticks.empty()) {
    throw std::runtime_error(path + ": no records");
  }
  return ticks;
}


// The two modules of one library, as the shim builds them.
struct Modules
{
  serenity::Estimator estimator;
  serenity::QoSController qos;
};


class Bench
{
public:
  explicit Bench(const Args& args)
    : args_(args), ticks_(readTicks(args.usageFile))
  {
    parsed_.resize(ticks_.size());
    for (size_t i = 0; i < ticks_.size(); i++) {
      if (!parsed_[i].ParseFromString(ticks_[i])) {
        throw std::runtime_error(
            args.usageFile + ": record " + std::to_string(i + 1) +
            " is not a mesos.ResourceUsage");
      }
    }
    parsedO2_.resize(ticks_.size());
    for (size_t i = 0; i < ticks_.size(); i++) {
      parsedO2_[i].ParseFromString(ticks_[i]);
    }
    executors_ = parsed_[0].executors_size();
  }

  size_t ticks() const { return ticks_.size(); }
  int executors() const { return executors_; }
  size_t bytesPerTick() const { return ticks_[0].size(); }

  Modules modules() const
  {
    return Modules{serenity::Estimator::fromFile(args_.estimatorToml),
                   serenity::QoSController::fromFile(args_.qosToml)};
  }

  void parseFresh()
  {
    for (const std::string& bytes : ticks_) {
      mesos::ResourceUsage usage;
      if (!usage.ParseFromString(bytes)) {
        throw std::runtime_error("parse failed");
      }
      sink_ += usage.executors_size();
    }
  }

  void parseFreshO2()
  {
    for (const std::string& bytes : ticks_) {
      serenity_bench::ResourceUsage usage;
      if (!usage.ParseFromString(bytes)) {
        throw std::runtime_error("parse failed");
      }
      sink_ += usage.executors_size();
    }
  }

  void parseReusedO2()
  {
    for (const std::string& bytes : ticks_) {
      if (!reusedO2_.ParseFromString(bytes)) {
        throw std::runtime_error("parse failed");
      }
      sink_ += reusedO2_.executors_size();
    }
  }

  void serializeO2()
  {
    for (const serenity_bench::ResourceUsage& usage : parsedO2_) {
      std::string bytes;
      usage.SerializeToString(&bytes);
      sink_ += bytes.size();
    }
  }

  void parseReused()
  {
    for (const std::string& bytes : ticks_) {
      if (!reused_.ParseFromString(bytes)) {
        throw std::runtime_error("parse failed");
      }
      sink_ += reused_.executors_size();
    }
  }

  void serializeAll()
  {
    for (const mesos::ResourceUsage& usage : parsed_) {
      Try<std::string> bytes = serenity::agent::serialize(usage);
      sink_ += bytes.isSome() ? bytes->size() : 0;
    }
  }

  void updateBoth(const Modules& m)
  {
    for (const std::string& bytes : ticks_) {
      update(m, bytes, bytes);
    }
  }

  void shim(const Modules& m)
  {
    for (const mesos::ResourceUsage& usage : parsed_) {
      Try<std::string> forEstimator = serenity::agent::serialize(usage);
      Try<std::string> forQos = serenity::agent::serialize(usage);
      update(m, forEstimator.get(), forQos.get());
    }
  }

  size_t sink() const { return sink_; }

private:
  void update(const Modules& m, const std::string& e, const std::string& q)
  {
    serenity::Slack slack;
    serenity::Status s = m.estimator.update(e, &slack);
    if (!s.ok()) {
      throw std::runtime_error("estimator update refused: " + s.message());
    }
    s = m.qos.update(q, &corrections_);
    if (!s.ok()) {
      throw std::runtime_error("QoS update refused: " + s.message());
    }
    sink_ += corrections_.size() + static_cast<size_t>(slack.cpus);
  }

  Args args_;
  std::vector<std::string> ticks_;
  std::vector<mesos::ResourceUsage> parsed_;
  mesos::ResourceUsage reused_;
  std::vector<serenity_bench::ResourceUsage> parsedO2_;
  serenity_bench::ResourceUsage reusedO2_;
  std::vector<serenity::Correction> corrections_;
  int executors_ = 0;
  size_t sink_ = 0;
};


struct Phase
{
  const char* name;
  std::function<void(Bench&)> run;
};


double median(std::vector<double> v)
{
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

} // namespace {


int main(int argc, char** argv)
{
  Args args = parseArgs(argc, argv);
  try {
    Bench bench(args);
    // Modules are built untimed, fresh for each pass (the pipelines keep
    // state across ticks, and each pass starts the ticks over).
    std::vector<Phase> phases = {
      {"parse_fresh_o2", [](Bench& b) { b.parseFreshO2(); }},
      {"parse_reused_o2", [](Bench& b) { b.parseReusedO2(); }},
      {"serialize_o2", [](Bench& b) { b.serializeO2(); }},
      {"parse_fresh", [](Bench& b) { b.parseFresh(); }},
      {"parse_reused", [](Bench& b) { b.parseReused(); }},
      {"serialize", [](Bench& b) { b.serializeAll(); }},
      {"modules", nullptr},
      {"shim", nullptr},
    };

    std::printf(
        "# %d executors, %zu ticks, %zu bytes per tick (%.0f per executor)\n",
        bench.executors(), bench.ticks(), bench.bytesPerTick(),
        static_cast<double>(bench.bytesPerTick()) / bench.executors());

    if (args.callgrind) {
      for (Phase& p : phases) {
        if (p.run) {
          CALLGRIND_ZERO_STATS;
          p.run(bench);
          CALLGRIND_DUMP_STATS_AT(p.name);
        } else {
          Modules m = bench.modules();
          CALLGRIND_ZERO_STATS;
          if (std::strcmp(p.name, "modules") == 0) {
            bench.updateBoth(m);
          } else {
            bench.shim(m);
          }
          CALLGRIND_DUMP_STATS_AT(p.name);
        }
      }
#ifndef SERENITY_HAVE_CALLGRIND
      std::fprintf(stderr, "built without valgrind/callgrind.h: no dumps\n");
#endif
      std::printf("# sink %zu\n", bench.sink());
      return 0;
    }

    std::vector<std::vector<double>> perTick(phases.size());
    for (int r = 0; r < args.rounds; r++) {
      for (size_t k = 0; k < phases.size(); k++) {
        size_t i = (k + r) % phases.size();
        Phase& p = phases[i];
        Modules m = bench.modules();
        auto start = std::chrono::steady_clock::now();
        if (p.run) {
          p.run(bench);
        } else if (std::strcmp(p.name, "modules") == 0) {
          bench.updateBoth(m);
        } else {
          bench.shim(m);
        }
        auto end = std::chrono::steady_clock::now();
        double ns = std::chrono::duration<double, std::nano>(end - start).count();
        perTick[i].push_back(ns / bench.ticks());
      }
    }

    double fresh = median(perTick[0]);
    std::printf("%-15s %14s %16s %15s\n", "phase", "median/tick", "per executor",
                "vs fresh_o2");
    for (size_t i = 0; i < phases.size(); i++) {
      double m = median(perTick[i]);
      std::printf("%-15s %11.1f us %13.0f ns %14.2fx\n", phases[i].name, m / 1000.0,
                  m / bench.executors(), m / fresh);
    }
    std::printf("# %d rounds; sink %zu\n", args.rounds, bench.sink());
  } catch (const std::exception& e) {
    std::cerr << "serenity_tick_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
