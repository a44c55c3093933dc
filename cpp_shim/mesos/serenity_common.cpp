#include "serenity_common.hpp"

#include <mutex>
#include <string>

#include <glog/logging.h>

#include <stout/error.hpp>
#include <stout/foreach.hpp>
#include <stout/hashmap.hpp>
#include <stout/stringify.hpp>

using process::Future;

using process::http::BadRequest;
using process::http::MethodNotAllowed;
using process::http::OK;
using process::http::Request;
using process::http::Response;

using std::string;

namespace serenity {
namespace agent {

Try<ModuleConfig> parseParameters(const mesos::Parameters& parameters)
{
  ModuleConfig config;
  bool havePipeline = false;

  for (int i = 0; i < parameters.parameter_size(); i++) {
    const mesos::Parameter& parameter = parameters.parameter(i);

    if (parameter.key() == "pipeline") {
      if (havePipeline) {
        return Error("the 'pipeline' parameter is given more than once");
      }
      if (parameter.value().empty()) {
        return Error("the 'pipeline' parameter is empty");
      }
      config.pipeline = parameter.value();
      havePipeline = true;
    } else if (parameter.key() == "override") {
      if (parameter.value().find('=') == string::npos) {
        return Error(
            "the 'override' parameter '" + parameter.value() +
            "' must read key=value or stage.key=value");
      }
      config.overrides.push_back(parameter.value());
    } else {
      return Error(
          "unknown parameter '" + parameter.key() +
          "' (known: pipeline, override)");
    }
  }

  if (!havePipeline) {
    return Error(
        "missing the 'pipeline' parameter (the path of the pipeline TOML "
        "file, e.g. /usr/local/share/serenity/pipelines/estimator.toml)");
  }

  return config;
}


void routeLogsToGlog()
{
  static std::once_flag once;
  std::call_once(once, []() {
    serenity::LogLevel maxLevel = serenity::LogLevel::Info;
    if (VLOG_IS_ON(2)) {
      maxLevel = serenity::LogLevel::Trace;
    } else if (VLOG_IS_ON(1)) {
      maxLevel = serenity::LogLevel::Debug;
    }

    serenity::Status status = serenity::setLogHandler(
        [](serenity::LogLevel level,
           const string& target,
           const string& message) {
          switch (level) {
            case serenity::LogLevel::Error:
              LOG(ERROR) << target << ": " << message;
              break;
            case serenity::LogLevel::Warn:
              LOG(WARNING) << target << ": " << message;
              break;
            case serenity::LogLevel::Info:
              LOG(INFO) << target << ": " << message;
              break;
            case serenity::LogLevel::Debug:
              VLOG(1) << target << ": " << message;
              break;
            case serenity::LogLevel::Trace:
            case serenity::LogLevel::Off:
              VLOG(2) << target << ": " << message;
              break;
          }
        },
        maxLevel);

    if (!status.ok()) {
      LOG(ERROR) << "Serenity: could not install the log handler: "
                 << status.message();
    }
  });
}


bool compatible()
{
  if (!serenity::abiCompatible()) {
    LOG(ERROR) << "Serenity: the library (" << serenity::version()
               << ", ABI " << serenity_abi_version()
               << ") does not match the header the module was built with "
               << "(ABI " << SERENITY_ABI_VERSION << ")";
    return false;
  }
  return true;
}


Try<string> serialize(const mesos::ResourceUsage& usage)
{
  string bytes;

  // SerializeToString refuses (and in debug builds of protobuf, aborts on)
  // a message with unset required fields; the library reports such a
  // snapshot itself, so never let that stop the tick here.
  bool serialized = usage.IsInitialized()
    ? usage.SerializeToString(&bytes)
    : usage.SerializePartialToString(&bytes);

  if (!serialized) {
    return Error("failed to serialize the agent's ResourceUsage");
  }

  return bytes;
}


string describeValve(const serenity::ValveState& state)
{
  string text = string("Valve ") + (state.open ? "open" : "closed") +
                " (switch " + (state.switch_open ? "open" : "closed") + ", " +
                stringify(state.holds) +
                (state.holds == 1 ? " hold" : " holds") + ").";
  if (state.holds > 0) {
    text += " The QoS controller holds it closed while it corrects; no "
            "open cancels that.";
  }
  return text;
}


Future<Response> valveRequest(
    const Request& request,
    const string& tag,
    const std::function<serenity::Status(bool)>& set,
    const std::function<Option<serenity::ValveState>()>& state)
{
  auto describe = [&state]() {
    Option<serenity::ValveState> current = state();
    return current.isSome() ? describeValve(current.get())
                            : string("Valve state unknown.");
  };

  // Only POST changes state: a GET (a browser, a crawler, a monitoring
  // probe) must never close or open a valve.
  if (request.method != "POST") {
    return MethodNotAllowed({"POST"}, request.method);
  }

  // The rules live in the library (serenity_valve_request_parse): the
  // query string if it has parameters, else the form-urlencoded body;
  // exactly one `enabled=true|false`. libprocess hands the query decoded,
  // so it is encoded back for the parser.
  bool open = false;
  serenity::Status parsed = serenity::parseValveRequest(
      process::http::query::encode(request.url.query), request.body, &open);
  if (parsed.code() == SERENITY_RESULT_INVALID_REQUEST) {
    return BadRequest(parsed.message() + " " + describe() + "\n");
  }
  if (!parsed.ok()) {
    return process::http::InternalServerError(parsed.message() + "\n");
  }

  serenity::Status status = set(open);
  if (!status.ok()) {
    return process::http::InternalServerError(status.message() + "\n");
  }

  LOG(INFO) << tag << ": valve switch " << (open ? "opened" : "closed")
            << " through /valve; " << describe();

  return OK(tag + (open ? ": Enabled. " : ": Disabled. ") + describe() + "\n");
}


const char SUMMARY_HELP[] =
  "GET: the node summary as JSON, the same from both Serenity modules "
  "(one per agent): the slack last answered, the last tick's contentions "
  "per signal, corrections over the last 1, 5 and 15 minutes per reason, "
  "the interference score, the valves and the age of the data. The "
  "contract, and the hints service that polls it, are in docs/hints.md.";


Future<Response> summaryRequest(const Request& request)
{
  if (request.method != "GET") {
    return MethodNotAllowed({"GET"}, request.method);
  }

  string json;
  serenity::Status status = serenity::nodeSummary(&json);
  if (!status.ok()) {
    return process::http::InternalServerError(
        "cannot read the node summary: " + status.message() + "\n");
  }

  OK response(json);
  response.headers["Content-Type"] = "application/json";
  return response;
}

} // namespace agent {
} // namespace serenity {
