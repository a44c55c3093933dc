#include "serenity_qos_controller.hpp"

#include <cmath>
#include <string>
#include <vector>

#include <glog/logging.h>

#include <process/after.hpp>
#include <process/clock.hpp>
#include <process/defer.hpp>
#include <process/dispatch.hpp>
#include <process/http.hpp>
#include <process/process.hpp>
#include <process/time.hpp>

#include <process/metrics/counter.hpp>
#include <process/metrics/metrics.hpp>
#include <process/metrics/pull_gauge.hpp>

#include <mesos/resources.hpp>

#include <stout/duration.hpp>
#include <stout/error.hpp>
#include <stout/option.hpp>
#include <stout/stringify.hpp>

#include "serenity_common.hpp"

using mesos::Parameters;
using mesos::Resources;
using mesos::ResourceUsage;

using mesos::slave::QoSCorrection;

using process::Clock;
using process::Failure;
using process::Future;
using process::Owned;
using process::PID;
using process::Time;

using process::http::Request;
using process::http::Response;

using process::metrics::Counter;
using process::metrics::PullGauge;

using std::list;
using std::string;
using std::vector;

namespace serenity {
namespace agent {

class SerenityQoSControllerProcess
  : public process::Process<SerenityQoSControllerProcess>
{
public:
  SerenityQoSControllerProcess(
      const lambda::function<Future<ResourceUsage>()>& _usage,
      const std::shared_ptr<serenity::QoSController>& _qos,
      const Duration& _interval)
    : ProcessBase("serenity-qos"),
      usage(_usage),
      qos(_qos),
      interval(_interval),
      lastCorrections(0),
      metrics(self()) {}

  Future<list<QoSCorrection>> corrections()
  {
    // Ticks start at least `interval` apart, whatever the agent's pace.
    if (lastTick.isSome()) {
      const Duration elapsed = Clock::now() - lastTick.get();
      if (elapsed < interval) {
        return process::after(interval - elapsed)
          .then(defer(self(), [this](const Nothing&) { return tick(); }));
      }
    }
    return tick();
  }

protected:
  void initialize() override
  {
    route(
        "/valve",
        READWRITE_HTTP_AUTHENTICATION_REALM,
        string(
            "POST enabled=true|false (query string or form body): opens "
            "or closes the Serenity QoS controller's valve. WARNING: "
            "while it is closed no corrections are made, so best-effort "
            "work may hurt production work. Opening an open valve "
            "changes nothing."),
        &Self::valve);
    route(
        "/summary",
        READONLY_HTTP_AUTHENTICATION_REALM,
        SUMMARY_HELP,
        &Self::summary);
  }

private:
  Future<list<QoSCorrection>> tick()
  {
    lastTick = Clock::now();
    return usage()
      .then(defer(self(), &Self::_tick, lambda::_1))
      .onFailed(defer(self(), &Self::failed, lambda::_1));
  }

  Future<list<QoSCorrection>> _tick(const ResourceUsage& usage)
  {
    Try<string> bytes = serialize(usage);
    if (bytes.isError()) {
      return Failure("Serenity QoS controller: " + bytes.error());
    }

    vector<serenity::Correction> decided;
    serenity::Status status = qos->update(bytes.get(), &decided);
    if (!status.ok()) {
      lastCorrections = 0;
      return Failure("Serenity QoS controller: " + status.message());
    }

    list<QoSCorrection> corrections;
    for (size_t i = 0; i < decided.size(); i++) {
      Option<QoSCorrection> correction = correctionFor(usage, decided[i]);
      if (correction.isSome()) {
        corrections.push_back(correction.get());
      }
    }

    lastCorrections = corrections.size();
    metrics.corrections += static_cast<int64_t>(corrections.size());

    if (!corrections.empty()) {
      return corrections;
    }

    // Nothing to do: answer after the interval, so that the agent's next
    // call (immediate with --qos_correction_interval_min=0) finds the next
    // tick due.
    return process::after(interval)
      .then([](const Nothing&) -> Future<list<QoSCorrection>> {
        return list<QoSCorrection>();
      });
  }

  // The KILL for one decision, with the ids copied from the agent's own
  // usage (the container id keeps its parents). The library names only
  // revocable executors; this checks again, since the agent kills whatever
  // it is told to.
  Option<QoSCorrection> correctionFor(
      const ResourceUsage& usage,
      const serenity::Correction& decided)
  {
    if (decided.executorIndex >= static_cast<size_t>(usage.executors_size())) {
      LOG(ERROR) << "Serenity QoS controller: a correction names executor #"
                 << decided.executorIndex << " but the usage has only "
                 << usage.executors_size() << "; ignored";
      return None();
    }

    const ResourceUsage::Executor& executor =
      usage.executors(static_cast<int>(decided.executorIndex));

    if (executor.executor_info().executor_id().value() != decided.executorId ||
        executor.executor_info().framework_id().value() !=
          decided.frameworkId) {
      LOG(ERROR) << "Serenity QoS controller: the correction for executor "
                 << decided.executorId << " (framework "
                 << decided.frameworkId << ") does not match executor #"
                 << decided.executorIndex << " of the usage; ignored";
      return None();
    }

    if (Resources(executor.allocated()).revocable().empty()) {
      LOG(ERROR) << "Serenity QoS controller: refusing to kill executor "
                 << decided.executorId << " (framework "
                 << decided.frameworkId << "): it has no revocable "
                 << "resources, so it is production work";
      return None();
    }

    QoSCorrection correction;
    correction.set_type(mesos::slave::QoSCorrection_Type_KILL);
    QoSCorrection::Kill* kill = correction.mutable_kill();
    kill->mutable_framework_id()->CopyFrom(
        executor.executor_info().framework_id());
    kill->mutable_executor_id()->CopyFrom(
        executor.executor_info().executor_id());
    if (executor.has_container_id()) {
      kill->mutable_container_id()->CopyFrom(executor.container_id());
    }

    LOG(INFO) << "Serenity QoS controller: killing executor "
              << decided.executorId << " (framework " << decided.frameworkId
              << ", container " << decided.containerId << "): "
              << decided.reason;

    return correction;
  }

  void failed(const string& message)
  {
    ++metrics.errors;
    LOG(WARNING) << "Serenity QoS controller: no corrections this round: "
                 << message;
  }

  Future<Response> summary(
      const Request& request,
      const Option<process::http::authentication::Principal>&)
  {
    return summaryRequest(request);
  }

  Future<Response> valve(
      const Request& request,
      const Option<process::http::authentication::Principal>&)
  {
    std::shared_ptr<serenity::QoSController> q = qos;
    return valveRequest(
        request,
        "Serenity QoS controller",
        [q](bool open) { return open ? q->openValve() : q->closeValve(); },
        [q]() { return valveStateOf(*q); });
  }

  double _last_corrections() { return static_cast<double>(lastCorrections); }

  double _ticks()
  {
    serenity::Metrics m;
    return qos->metrics(&m).ok() ? static_cast<double>(m.ticks) : 0;
  }

  double _contentions()
  {
    serenity::Metrics m;
    return qos->metrics(&m).ok()
      ? static_cast<double>(m.last_contentions) : 0;
  }

  double _valve_open()
  {
    serenity::ValveState state;
    return qos->valveState(&state).ok() && state.open ? 1 : 0;
  }

  struct Metrics
  {
    explicit Metrics(const PID<SerenityQoSControllerProcess>& pid)
      : corrections("serenity/qos/corrections"),
        last_corrections(
            "serenity/qos/last_corrections",
            defer(pid, &SerenityQoSControllerProcess::_last_corrections)),
        contentions(
            "serenity/qos/contentions",
            defer(pid, &SerenityQoSControllerProcess::_contentions)),
        ticks(
            "serenity/qos/ticks",
            defer(pid, &SerenityQoSControllerProcess::_ticks)),
        valve_open(
            "serenity/qos/valve_open",
            defer(pid, &SerenityQoSControllerProcess::_valve_open)),
        errors("serenity/qos/errors")
    {
      process::metrics::add(corrections);
      process::metrics::add(last_corrections);
      process::metrics::add(contentions);
      process::metrics::add(ticks);
      process::metrics::add(valve_open);
      process::metrics::add(errors);
    }

    ~Metrics()
    {
      process::metrics::remove(corrections);
      process::metrics::remove(last_corrections);
      process::metrics::remove(contentions);
      process::metrics::remove(ticks);
      process::metrics::remove(valve_open);
      process::metrics::remove(errors);
    }

    Counter corrections;
    PullGauge last_corrections;
    PullGauge contentions;
    PullGauge ticks;
    PullGauge valve_open;
    Counter errors;
  };

  const lambda::function<Future<ResourceUsage>()> usage;
  const std::shared_ptr<serenity::QoSController> qos;
  const Duration interval;
  Option<Time> lastTick;
  size_t lastCorrections;
  Metrics metrics;
};


Try<mesos::slave::QoSController*> SerenityQoSController::create(
    const Parameters& parameters)
{
  routeLogsToGlog();

  Try<ModuleConfig> config = parseParameters(parameters);
  if (config.isError()) {
    return Error(config.error());
  }

  try {
    std::shared_ptr<serenity::QoSController> qos(new serenity::QoSController(
        serenity::QoSController::fromFile(
            config.get().pipeline, config.get().overrides)));
    return static_cast<mesos::slave::QoSController*>(
        new SerenityQoSController(qos));
  } catch (const serenity::ConfigError& e) {
    return Error(
        "the QoS pipeline " + config.get().pipeline + " has " +
        stringify(e.problems().size()) + " problem(s):\n" + e.what());
  }
}


SerenityQoSController::SerenityQoSController(
    std::shared_ptr<serenity::QoSController> _qos)
  : qos(_qos) {}


SerenityQoSController::~SerenityQoSController()
{
  if (process.get() != nullptr) {
    process::terminate(process.get());
    process::wait(process.get());
  }
}


Try<Nothing> SerenityQoSController::initialize(
    const lambda::function<Future<ResourceUsage>()>& usage)
{
  if (process.get() != nullptr) {
    return Error("The Serenity QoS controller has already been initialized");
  }

  double secs = 1.0;
  serenity::Status status = qos->intervalSecs(&secs);
  if (!status.ok()) {
    return Error(
        "Failed to read the QoS pipeline's interval: " + status.message());
  }
  Try<Duration> interval = Duration::create(secs);
  if (interval.isError() || !(secs > 0)) {
    return Error(
        "The QoS pipeline's interval_secs " + stringify(secs) +
        " is not a usable duration");
  }

  process.reset(
      new SerenityQoSControllerProcess(usage, qos, interval.get()));
  if (!process::spawn(process.get())) {
    process.reset();
    return Error(
        "Failed to start the Serenity QoS controller's actor "
        "('serenity-qos' already exists?)");
  }

  LOG(INFO) << "Serenity QoS controller: ticks at most every "
            << interval.get() << "; an empty answer comes after that delay";

  return Nothing();
}


Future<list<QoSCorrection>> SerenityQoSController::corrections()
{
  if (process.get() == nullptr) {
    return Failure("The Serenity QoS controller is not initialized");
  }

  return process::dispatch(
      process.get(),
      &SerenityQoSControllerProcess::corrections);
}

} // namespace agent {
} // namespace serenity {
