// serenity.hpp: a C++11 RAII wrapper over the Serenity C ABI (serenity.h).
//
// Mesos-free: the Mesos adapters (cpp_shim/mesos) build on it, and so can
// any other C++ host. Handles free themselves; strings are copied out of
// the library, so nothing returned here dangles. Creation throws
// ConfigError; updates return a Status (they run on hot paths and must not
// throw). Every object may be used from any thread: the library locks each
// handle internally.

#ifndef __SERENITY_SERENITY_HPP__
#define __SERENITY_SERENITY_HPP__

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "serenity.h"

namespace serenity {

// The library's version string, e.g. "serenity-ffi 0.1.0".
inline std::string version()
{
  return serenity_version();
}


// True when the library speaks the ABI of the header compiled in.
inline bool abiCompatible()
{
  return serenity_abi_version() == SERENITY_ABI_VERSION;
}


// The outcome of a call that does not throw: a result code and, when it
// failed, a message for the log.
class Status
{
public:
  Status() : code_(SERENITY_RESULT_OK) {}

  Status(serenity_result code, const std::string& message)
    : code_(code), message_(message) {}

  static Status of(serenity_result code)
  {
    if (code == SERENITY_RESULT_OK) {
      return Status();
    }
    return Status(code, serenity_result_text(code));
  }

  bool ok() const { return code_ == SERENITY_RESULT_OK; }
  serenity_result code() const { return code_; }
  const std::string& message() const { return message_; }

private:
  serenity_result code_;
  std::string message_;
};


// One configuration problem, copied out of the library's error object.
struct Problem
{
  std::string message; // Full text: "file:line:col: stage N (type): `key` = value: ...".
  std::string detail; // The message alone.
  std::string origin; // "file:line:col" or "override `text`".
  std::string file; // Empty for an override.
  size_t line; // 1-based; 0 when unknown.
  size_t column; // 1-based; 0 when unknown.
  size_t stageIndex; // 1-based; 0 for a top-level problem.
  std::string stageType; // Empty for a top-level problem.
  std::string key; // Empty when the problem is not about a key.
  std::string value; // The offending value as written; may be empty.
};


// Thrown when an estimator or a QoS controller cannot be created: every
// problem found, at once. what() is the full text, one problem per line.
class ConfigError : public std::runtime_error
{
public:
  ConfigError(serenity_result code, const std::vector<Problem>& problems)
    : std::runtime_error(join(problems)), code_(code), problems_(problems) {}

  serenity_result code() const { return code_; }
  const std::vector<Problem>& problems() const { return problems_; }

  // Copies and frees a library error object (NULL gives one generic problem).
  static ConfigError take(serenity_result code, serenity_config_error* error)
  {
    std::vector<Problem> problems;
    const size_t count = serenity_config_error_count(error);
    for (size_t i = 0; i < count; i++) {
      Problem p;
      p.message = text(serenity_config_error_message(error, i));
      p.detail = text(serenity_config_error_detail(error, i));
      p.origin = text(serenity_config_error_origin(error, i));
      p.file = text(serenity_config_error_file(error, i));
      p.line = serenity_config_error_line(error, i);
      p.column = serenity_config_error_column(error, i);
      p.stageIndex = serenity_config_error_stage_index(error, i);
      p.stageType = text(serenity_config_error_stage_type(error, i));
      p.key = text(serenity_config_error_key(error, i));
      p.value = text(serenity_config_error_value(error, i));
      problems.push_back(p);
    }
    serenity_config_error_free(error);
    if (problems.empty()) {
      Problem p;
      p.message = p.detail = serenity_result_text(code);
      p.line = p.column = p.stageIndex = 0;
      problems.push_back(p);
    }
    return ConfigError(code, problems);
  }

private:
  static std::string text(const char* s) { return s == nullptr ? "" : s; }

  static std::string join(const std::vector<Problem>& problems)
  {
    std::string out;
    for (size_t i = 0; i < problems.size(); i++) {
      if (i > 0) {
        out += "\n";
      }
      out += problems[i].message;
    }
    return out;
  }

  serenity_result code_;
  std::vector<Problem> problems_;
};


// The revocable capacity an estimator update answers.
struct Slack
{
  Slack() : cpus(0), memBytes(0), memMib(0), stopped(false) {}

  double cpus; // CPUs, >= 0.
  double memBytes; // Memory in bytes, >= 0.
  double memMib; // The same in MiB, the unit of Mesos `mem`.
  bool stopped; // A stage stopped the tick (e.g. a closed valve).
};


// One kill decision of a QoS controller update, copied out of the library.
struct Correction
{
  std::string frameworkId;
  std::string executorId;
  std::string containerId; // Empty when the usage had none.
  std::string reason;
  size_t executorIndex; // Index into the ResourceUsage's executors.
};


typedef serenity_metrics Metrics;
typedef serenity_valve_state ValveState;


namespace internal {

template <typename T, void (*Free)(T*)>
struct Deleter
{
  void operator()(T* t) const { Free(t); }
};


inline std::vector<const char*> pointers(const std::vector<std::string>& v)
{
  std::vector<const char*> out;
  for (size_t i = 0; i < v.size(); i++) {
    out.push_back(v[i].c_str());
  }
  return out;
}


template <typename H>
std::string lastError(
    const H* handle,
    serenity_result (*get)(const H*, char*, size_t, size_t*))
{
  size_t length = 0;
  if (get(handle, nullptr, 0, &length) != SERENITY_RESULT_OK) {
    return "";
  }
  std::vector<char> buffer(length + 1, '\0');
  if (get(handle, buffer.data(), buffer.size(), &length) != SERENITY_RESULT_OK) {
    return "";
  }
  return std::string(buffer.data());
}

} // namespace internal {


// A resource estimator. Movable, not copyable; a moved-from estimator
// answers SERENITY_RESULT_NULL_PARAMETER.
class Estimator
{
public:
  // Throws ConfigError.
  static Estimator fromFile(
      const std::string& path,
      const std::vector<std::string>& overrides = std::vector<std::string>())
  {
    std::vector<const char*> o = internal::pointers(overrides);
    serenity_estimator* handle = nullptr;
    serenity_config_error* error = nullptr;
    serenity_result r = serenity_estimator_new_from_file(
        path.c_str(), o.data(), o.size(), &handle, &error);
    if (r != SERENITY_RESULT_OK) {
      throw ConfigError::take(r, error);
    }
    return Estimator(handle);
  }

  // `name` stands for the file in messages. Throws ConfigError.
  static Estimator fromText(
      const std::string& name,
      const std::string& toml,
      const std::vector<std::string>& overrides = std::vector<std::string>())
  {
    std::vector<const char*> o = internal::pointers(overrides);
    serenity_estimator* handle = nullptr;
    serenity_config_error* error = nullptr;
    serenity_result r = serenity_estimator_new_from_text(
        name.c_str(), toml.c_str(), o.data(), o.size(), &handle, &error);
    if (r != SERENITY_RESULT_OK) {
      throw ConfigError::take(r, error);
    }
    return Estimator(handle);
  }

  // One tick on serialized ResourceUsage bytes. On failure `slack` is zero
  // and the status carries the library's message.
  Status update(const std::string& usage, Slack* slack) const
  {
    return update(usage.data(), usage.size(), slack);
  }

  Status update(const void* data, size_t size, Slack* slack) const
  {
    serenity_slack s = serenity_slack();
    serenity_result r = serenity_estimator_update(
        handle_.get(), static_cast<const uint8_t*>(data), size, &s);
    if (slack != nullptr) {
      slack->cpus = s.cpus;
      slack->memBytes = s.mem_bytes;
      slack->memMib = s.mem_mib;
      slack->stopped = s.stopped;
    }
    return failure(r);
  }

  Status metrics(Metrics* out) const
  {
    return Status::of(serenity_estimator_metrics(handle_.get(), out));
  }

  // The message of the last refused update ("" if none).
  std::string lastError() const
  {
    return internal::lastError(handle_.get(), serenity_estimator_last_error);
  }

  // The estimator valve is shared by every estimator of the process and
  // counts: each close must be matched by an open.
  Status openValve() const
  {
    return Status::of(serenity_estimator_valve_open(handle_.get()));
  }

  Status closeValve() const
  {
    return Status::of(serenity_estimator_valve_close(handle_.get()));
  }

  Status valveState(ValveState* out) const
  {
    return Status::of(serenity_estimator_valve_state(handle_.get(), out));
  }

  bool valid() const { return handle_ != nullptr; }

private:
  explicit Estimator(serenity_estimator* handle) : handle_(handle) {}

  Status failure(serenity_result r) const
  {
    if (r == SERENITY_RESULT_OK) {
      return Status();
    }
    std::string message = lastError();
    return Status(r, message.empty() ? serenity_result_text(r) : message);
  }

  std::unique_ptr<
      serenity_estimator,
      internal::Deleter<serenity_estimator, serenity_estimator_free>> handle_;
};


// A QoS controller. Movable, not copyable.
class QoSController
{
public:
  // Throws ConfigError.
  static QoSController fromFile(
      const std::string& path,
      const std::vector<std::string>& overrides = std::vector<std::string>())
  {
    std::vector<const char*> o = internal::pointers(overrides);
    serenity_qos* handle = nullptr;
    serenity_config_error* error = nullptr;
    serenity_result r = serenity_qos_new_from_file(
        path.c_str(), o.data(), o.size(), &handle, &error);
    if (r != SERENITY_RESULT_OK) {
      throw ConfigError::take(r, error);
    }
    return QoSController(handle);
  }

  // `name` stands for the file in messages. Throws ConfigError.
  static QoSController fromText(
      const std::string& name,
      const std::string& toml,
      const std::vector<std::string>& overrides = std::vector<std::string>())
  {
    std::vector<const char*> o = internal::pointers(overrides);
    serenity_qos* handle = nullptr;
    serenity_config_error* error = nullptr;
    serenity_result r = serenity_qos_new_from_text(
        name.c_str(), toml.c_str(), o.data(), o.size(), &handle, &error);
    if (r != SERENITY_RESULT_OK) {
      throw ConfigError::take(r, error);
    }
    return QoSController(handle);
  }

  // One tick; `corrections` is replaced by this tick's kills (copied, so
  // they stay valid). On failure it is empty.
  Status update(
      const std::string& usage,
      std::vector<Correction>* corrections) const
  {
    return update(usage.data(), usage.size(), corrections);
  }

  Status update(
      const void* data,
      size_t size,
      std::vector<Correction>* corrections) const
  {
    const serenity_correction* list = nullptr;
    size_t count = 0;
    serenity_result r = serenity_qos_update(
        handle_.get(), static_cast<const uint8_t*>(data), size, &list, &count);
    if (corrections != nullptr) {
      corrections->clear();
      for (size_t i = 0; i < count; i++) {
        Correction c;
        c.frameworkId = list[i].framework_id;
        c.executorId = list[i].executor_id;
        c.containerId = list[i].container_id;
        c.reason = list[i].reason;
        c.executorIndex = list[i].executor_index;
        corrections->push_back(c);
      }
    }
    if (r == SERENITY_RESULT_OK) {
      return Status();
    }
    std::string message = lastError();
    return Status(r, message.empty() ? serenity_result_text(r) : message);
  }

  // Seconds between ticks (the pipeline's interval_secs).
  Status intervalSecs(double* secs) const
  {
    return Status::of(serenity_qos_interval_secs(handle_.get(), secs));
  }

  Status metrics(Metrics* out) const
  {
    return Status::of(serenity_qos_metrics(handle_.get(), out));
  }

  std::string lastError() const
  {
    return internal::lastError(handle_.get(), serenity_qos_last_error);
  }

  Status openValve() const
  {
    return Status::of(serenity_qos_valve_open(handle_.get()));
  }

  Status closeValve() const
  {
    return Status::of(serenity_qos_valve_close(handle_.get()));
  }

  Status valveState(ValveState* out) const
  {
    return Status::of(serenity_qos_valve_state(handle_.get(), out));
  }

  bool valid() const { return handle_ != nullptr; }

private:
  explicit QoSController(serenity_qos* handle) : handle_(handle) {}

  std::unique_ptr<
      serenity_qos,
      internal::Deleter<serenity_qos, serenity_qos_free>> handle_;
};


// Log severity, as the library reports it.
enum class LogLevel : uint32_t
{
  // CamelCase on purpose: ERROR and DEBUG are often macros.
  Off = 0,
  Error = SERENITY_LOG_LEVEL_ERROR,
  Warn = SERENITY_LOG_LEVEL_WARN,
  Info = SERENITY_LOG_LEVEL_INFO,
  Debug = SERENITY_LOG_LEVEL_DEBUG,
  Trace = SERENITY_LOG_LEVEL_TRACE,
};


typedef std::function<void(
    LogLevel level, const std::string& target, const std::string& message)>
  LogHandler;


namespace internal {

struct LogState
{
  std::mutex mutex;
  LogHandler* handler = nullptr;
};


inline LogState& logState()
{
  // Never destroyed: the library may log from any thread until exit.
  static LogState* state = new LogState();
  return *state;
}


inline void logTrampoline(
    void* userData,
    serenity_log_level level,
    const char* target,
    const char* message)
{
  try {
    const LogHandler& handler = *static_cast<LogHandler*>(userData);
    handler(
        static_cast<LogLevel>(level),
        target == nullptr ? "" : target,
        message == nullptr ? "" : message);
  } catch (...) {
    // Nothing may unwind into the library.
  }
}

} // namespace internal {


// Routes the library's log records (process-wide) to `handler`, up to
// `maxLevel`; an empty handler makes the library silent again. The handler
// is called from whichever thread logs, so it must be thread-safe; it must
// not call back into the library. Replacing it waits until calls to the
// previous handler have returned.
inline Status setLogHandler(
    const LogHandler& handler,
    LogLevel maxLevel = LogLevel::Info)
{
  internal::LogState& state = internal::logState();
  std::lock_guard<std::mutex> lock(state.mutex);
  LogHandler* next = handler ? new LogHandler(handler) : nullptr;
  serenity_result r = serenity_set_log_callback(
      next != nullptr ? &internal::logTrampoline : nullptr,
      next,
      static_cast<uint32_t>(maxLevel));
  if (r != SERENITY_RESULT_OK) {
    delete next;
    return Status::of(r);
  }
  delete state.handler;
  state.handler = next;
  return Status();
}


// Reads what a `/valve` request asks (serenity_valve_request_parse):
// `enabled=true` / `enabled=false`, form-urlencoded in `query` (the query
// string without `?`) or, when the query has no parameters, in `body`. On
// success writes the switch position to `*open` (true opens); otherwise the
// status is SERENITY_RESULT_INVALID_REQUEST with the sentence saying why.
inline Status parseValveRequest(
    const std::string& query,
    const std::string& body,
    bool* open)
{
  const uint8_t* q = reinterpret_cast<const uint8_t*>(query.data());
  const uint8_t* b = reinterpret_cast<const uint8_t*>(body.data());
  size_t length = 0;
  bool value = false;
  serenity_result r = serenity_valve_request_parse(
      q, query.size(), b, body.size(), &value, nullptr, 0, &length);
  if (r == SERENITY_RESULT_OK) {
    *open = value;
    return Status();
  }
  if (r != SERENITY_RESULT_INVALID_REQUEST) {
    return Status::of(r);
  }
  std::vector<char> message(length + 1, '\0');
  serenity_valve_request_parse(
      q, query.size(), b, body.size(), &value, message.data(), message.size(),
      &length);
  return Status(r, std::string(message.data()));
}

// The process's node summary (serenity_node_summary) as JSON, the contract
// of docs/hints.md: the last slack answered, contention per signal,
// corrections per window and reason, the interference score, the valves,
// the age of the data. Every estimator and QoS controller of the process
// feeds it. The text changes from call to call (its age), so the buffer
// gets room to spare and is grown while the text does not fit.
inline Status nodeSummary(std::string* json)
{
  size_t length = 0;
  serenity_result r = serenity_node_summary(nullptr, 0, &length);
  for (int attempt = 0; r == SERENITY_RESULT_OK && attempt < 4; ++attempt) {
    std::vector<char> buffer(length + 256, '\0');
    r = serenity_node_summary(buffer.data(), buffer.size(), &length);
    if (r == SERENITY_RESULT_OK && length < buffer.size()) {
      json->assign(buffer.data(), length);
      return Status();
    }
  }
  if (r != SERENITY_RESULT_OK) {
    return Status::of(r);
  }
  return Status(
      SERENITY_RESULT_TOO_LARGE,
      "the node summary kept growing while it was read");
}

} // namespace serenity {

#endif // __SERENITY_SERENITY_HPP__
