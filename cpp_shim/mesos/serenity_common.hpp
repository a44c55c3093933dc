// What the two Serenity Mesos modules share: module parameters, routing the
// library's log to glog, the ABI check, the /valve and /summary HTTP
// routes, and the
// serialization of the agent's ResourceUsage.

#ifndef __SERENITY_MESOS_SERENITY_COMMON_HPP__
#define __SERENITY_MESOS_SERENITY_COMMON_HPP__

#include <functional>
#include <string>
#include <vector>

#include <mesos/mesos.hpp>

#include <process/authenticator.hpp>
#include <process/future.hpp>
#include <process/http.hpp>

#include <stout/option.hpp>
#include <stout/try.hpp>

#include <serenity/serenity.hpp>

namespace serenity {
namespace agent {

// The agent's HTTP authentication realm for read-write endpoints
// (src/slave/constants.hpp, READWRITE_HTTP_AUTHENTICATION_REALM). The
// /valve routes change state, so they sit in it: with
// --authenticate_http_readwrite the agent's authenticator guards them.
constexpr char READWRITE_HTTP_AUTHENTICATION_REALM[] = "mesos-agent-readwrite";

// The agent's realm for read-only endpoints (READONLY_HTTP_AUTHENTICATION_
// REALM): /summary only reads, so --authenticate_http_readonly guards it.
constexpr char READONLY_HTTP_AUTHENTICATION_REALM[] = "mesos-agent-readonly";

// The help text of both modules' /summary routes.
extern const char SUMMARY_HELP[];


// The module parameters from modules.json.
struct ModuleConfig
{
  std::string pipeline; // `pipeline`: path of the pipeline TOML file.
  std::vector<std::string> overrides; // Every `override`: key=value.
};


// Reads `pipeline` (exactly one) and `override` (any number of
// `key=value` or `stage.key=value`); any other key is an error.
Try<ModuleConfig> parseParameters(const mesos::Parameters& parameters);


// Routes the library's log records to glog (once per process): ERROR,
// WARNING and INFO as such, DEBUG as VLOG(1), TRACE as VLOG(2). DEBUG and
// TRACE are forwarded only when VLOG(1) / VLOG(2) are on when the first
// module is created.
void routeLogsToGlog();


// The module's compatible(): the library speaks the header's ABI.
bool compatible();


// Serializes the agent's usage for the library. Never fails on a message
// with missing required fields (the library judges those itself).
Try<std::string> serialize(const mesos::ResourceUsage& usage);


// A valve's state for logs and HTTP answers: "Valve open (switch open,
// 0 holds)."
std::string describeValve(const serenity::ValveState& state);


// The valve state of an Estimator or QoSController handle, or None when it
// cannot be read.
template <typename Handle>
Option<serenity::ValveState> valveStateOf(const Handle& handle)
{
  serenity::ValveState state;
  if (!handle.valveState(&state).ok()) {
    return None();
  }
  return state;
}


// A /valve request: POST only (405 otherwise), `enabled=true|false` from
// the query string, else from a form-urlencoded body (400 for anything
// else). `set` sets the valve's operator switch (idempotent: it never
// cancels a QoS controller's hold); `state` reads the valve (None when it
// cannot); `tag` names the module in the answer ("Serenity estimator").
process::Future<process::http::Response> valveRequest(
    const process::http::Request& request,
    const std::string& tag,
    const std::function<serenity::Status(bool)>& set,
    const std::function<Option<serenity::ValveState>()>& state);


// A /summary request: GET only (405 otherwise); answers the library's node
// summary (serenity::nodeSummary) as application/json, 500 when it cannot
// be read. Both modules serve the same summary: the library keeps one per
// process, fed by the estimator and the QoS controller.
process::Future<process::http::Response> summaryRequest(
    const process::http::Request& request);

} // namespace agent {
} // namespace serenity {

#endif // __SERENITY_MESOS_SERENITY_COMMON_HPP__
