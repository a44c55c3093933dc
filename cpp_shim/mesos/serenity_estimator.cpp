#include "serenity_estimator.hpp"

#include <cmath>
#include <string>

#include <glog/logging.h>

#include <process/defer.hpp>
#include <process/dispatch.hpp>
#include <process/http.hpp>
#include <process/process.hpp>

#include <process/metrics/counter.hpp>
#include <process/metrics/metrics.hpp>
#include <process/metrics/pull_gauge.hpp>

#include <stout/error.hpp>
#include <stout/format.hpp>
#include <stout/stringify.hpp>

#include "serenity_common.hpp"

using mesos::Parameters;
using mesos::Resource;
using mesos::Resources;
using mesos::ResourceUsage;
using mesos::Value;

using process::Failure;
using process::Future;
using process::Owned;
using process::PID;

using process::http::Request;
using process::http::Response;

using process::metrics::Counter;
using process::metrics::PullGauge;

using std::string;

namespace serenity {
namespace agent {

namespace {

// The slack as revocable, unreserved scalars without a role: the agent
// CHECKs that every estimated resource is revocable.
Resources toResources(const serenity::Slack& slack)
{
  Resources resources;

  auto add = [&resources](const string& name, double value) {
    if (!std::isfinite(value) || value <= 0) {
      return;
    }
    Resource resource;
    resource.set_name(name);
    resource.set_type(Value::SCALAR);
    resource.mutable_scalar()->set_value(value);
    resource.mutable_revocable();
    resources += resource;
  };

  add("cpus", slack.cpus);
  add("mem", slack.memMib);

  return resources;
}

} // namespace {


class SerenityEstimatorProcess
  : public process::Process<SerenityEstimatorProcess>
{
public:
  SerenityEstimatorProcess(
      const lambda::function<Future<ResourceUsage>()>& _usage,
      const std::shared_ptr<serenity::Estimator>& _estimator)
    : ProcessBase("serenity-estimator"),
      usage(_usage),
      estimator(_estimator),
      metrics(self()) {}

  // A failure (the agent's usage() failed, or its snapshot was refused) is
  // answered with zero revocable resources, never with a failed future: on
  // a failed future the agent forwards nothing, so the master would go on
  // offering the previous estimate while nothing backs it.
  Future<Resources> oversubscribable()
  {
    return usage()
      .then(defer(self(), &Self::_oversubscribable, lambda::_1))
      .repair(defer(self(), &Self::failed, lambda::_1));
  }

protected:
  void initialize() override
  {
    route(
        "/valve",
        READWRITE_HTTP_AUTHENTICATION_REALM,
        string(
            "POST enabled=true|false (query string or form body): opens "
            "or closes the Serenity estimator's valve. While it is closed "
            "the estimate is zero revocable resources. Opening an open "
            "valve changes nothing; the QoS controller's pause_estimator "
            "holds it closed while it corrects, and no open cancels "
            "that."),
        &Self::valve);
    route(
        "/summary",
        READONLY_HTTP_AUTHENTICATION_REALM,
        SUMMARY_HELP,
        &Self::summary);
  }

private:
  Future<Resources> _oversubscribable(const ResourceUsage& usage)
  {
    Try<string> bytes = serialize(usage);
    if (bytes.isError()) {
      return Failure("Serenity estimator: " + bytes.error());
    }

    serenity::Slack slack;
    serenity::Status status = estimator->update(bytes.get(), &slack);
    if (!status.ok()) {
      return Failure("Serenity estimator: " + status.message());
    }

    return answer(
        slack, slack.stopped ? "; the pipeline stopped the tick" : "");
  }

  Future<Resources> failed(const Future<Resources>& failure)
  {
    ++metrics.errors;
    const string why = failure.isFailed() ? failure.failure()
                                          : string("the usage was discarded");
    LOG(WARNING) << "Serenity estimator: no estimate this round, answering "
                 << "zero revocable resources: " << why;
    return answer(serenity::Slack(), "; the snapshot failed");
  }

  // The estimate answered to the agent. Each change (at the agent's
  // 3-decimal precision) makes the agent forward a new total and the master
  // rescind this agent's revocable offers: worth a line, with `note`.
  Resources answer(const serenity::Slack& slack, const string& note)
  {
    if (std::lround(slack.cpus * 1000) != std::lround(last.cpus * 1000) ||
        std::lround(slack.memMib) != std::lround(last.memMib)) {
      LOG(INFO) << "Serenity estimator: new estimate: "
                << strings::format("%.3f", slack.cpus).get() << " cpus, "
                << std::lround(slack.memMib) << " MB (was "
                << strings::format("%.3f", last.cpus).get() << " cpus, "
                << std::lround(last.memMib) << " MB)" << note;
    }
    last = slack;
    return toResources(slack);
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
    std::shared_ptr<serenity::Estimator> e = estimator;
    return valveRequest(
        request,
        "Serenity estimator",
        [e](bool open) { return open ? e->openValve() : e->closeValve(); },
        [e]() { return valveStateOf(*e); });
  }

  double _slack_cpus() { return last.cpus; }
  double _slack_mem_mb() { return last.memMib; }

  double _ticks()
  {
    serenity::Metrics m;
    return estimator->metrics(&m).ok() ? static_cast<double>(m.ticks) : 0;
  }

  double _contentions()
  {
    serenity::Metrics m;
    return estimator->metrics(&m).ok()
      ? static_cast<double>(m.contentions_total) : 0;
  }

  double _valve_open()
  {
    serenity::ValveState state;
    return estimator->valveState(&state).ok() && state.open ? 1 : 0;
  }

  struct Metrics
  {
    explicit Metrics(const PID<SerenityEstimatorProcess>& pid)
      : slack_cpus(
            "serenity/estimator/slack_cpus",
            defer(pid, &SerenityEstimatorProcess::_slack_cpus)),
        slack_mem_mb(
            "serenity/estimator/slack_mem_mb",
            defer(pid, &SerenityEstimatorProcess::_slack_mem_mb)),
        ticks(
            "serenity/estimator/ticks",
            defer(pid, &SerenityEstimatorProcess::_ticks)),
        contentions(
            "serenity/estimator/contentions",
            defer(pid, &SerenityEstimatorProcess::_contentions)),
        valve_open(
            "serenity/estimator/valve_open",
            defer(pid, &SerenityEstimatorProcess::_valve_open)),
        errors("serenity/estimator/errors")
    {
      process::metrics::add(slack_cpus);
      process::metrics::add(slack_mem_mb);
      process::metrics::add(ticks);
      process::metrics::add(contentions);
      process::metrics::add(valve_open);
      process::metrics::add(errors);
    }

    ~Metrics()
    {
      process::metrics::remove(slack_cpus);
      process::metrics::remove(slack_mem_mb);
      process::metrics::remove(ticks);
      process::metrics::remove(contentions);
      process::metrics::remove(valve_open);
      process::metrics::remove(errors);
    }

    PullGauge slack_cpus;
    PullGauge slack_mem_mb;
    PullGauge ticks;
    PullGauge contentions;
    PullGauge valve_open;
    Counter errors;
  };

  const lambda::function<Future<ResourceUsage>()> usage;
  const std::shared_ptr<serenity::Estimator> estimator;
  serenity::Slack last;
  Metrics metrics;
};


Try<mesos::slave::ResourceEstimator*> SerenityEstimator::create(
    const Parameters& parameters)
{
  routeLogsToGlog();

  Try<ModuleConfig> config = parseParameters(parameters);
  if (config.isError()) {
    return Error(config.error());
  }

  try {
    std::shared_ptr<serenity::Estimator> estimator(new serenity::Estimator(
        serenity::Estimator::fromFile(
            config.get().pipeline, config.get().overrides)));
    return static_cast<mesos::slave::ResourceEstimator*>(
        new SerenityEstimator(estimator));
  } catch (const serenity::ConfigError& e) {
    return Error(
        "the estimator pipeline " + config.get().pipeline + " has " +
        stringify(e.problems().size()) + " problem(s):\n" + e.what());
  }
}


SerenityEstimator::SerenityEstimator(
    std::shared_ptr<serenity::Estimator> _estimator)
  : estimator(_estimator) {}


SerenityEstimator::~SerenityEstimator()
{
  if (process.get() != nullptr) {
    process::terminate(process.get());
    process::wait(process.get());
  }
}


Try<Nothing> SerenityEstimator::initialize(
    const lambda::function<Future<ResourceUsage>()>& usage)
{
  if (process.get() != nullptr) {
    return Error("The Serenity estimator has already been initialized");
  }

  process.reset(new SerenityEstimatorProcess(usage, estimator));
  if (!process::spawn(process.get())) {
    process.reset();
    return Error(
        "Failed to start the Serenity estimator's actor "
        "('serenity-estimator' already exists?)");
  }

  return Nothing();
}


Future<Resources> SerenityEstimator::oversubscribable()
{
  if (process.get() == nullptr) {
    return Failure("The Serenity estimator is not initialized");
  }

  return process::dispatch(
      process.get(),
      &SerenityEstimatorProcess::oversubscribable);
}

} // namespace agent {
} // namespace serenity {
