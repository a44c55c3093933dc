// A tiny protobuf writer for mesos.ResourceUsage, so the wrapper tests can
// feed the library realistic bytes without linking protobuf or Mesos.
// Field numbers are Mesos's (include/mesos/mesos.proto).

#ifndef __SERENITY_TESTS_USAGE_BUILDER_HPP__
#define __SERENITY_TESTS_USAGE_BUILDER_HPP__

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace serenity {
namespace tests {

class Writer
{
public:
  Writer& varint(uint32_t field, uint64_t value)
  {
    key(field, 0);
    raw(value);
    return *this;
  }

  Writer& fixed64(uint32_t field, double value)
  {
    key(field, 1);
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    for (int i = 0; i < 8; i++) {
      out_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
    }
    return *this;
  }

  Writer& bytes(uint32_t field, const std::string& value)
  {
    key(field, 2);
    raw(value.size());
    out_ += value;
    return *this;
  }

  Writer& message(uint32_t field, const Writer& value)
  {
    return bytes(field, value.str());
  }

  const std::string& str() const { return out_; }

private:
  void key(uint32_t field, uint32_t wire) { raw((field << 3) | wire); }

  void raw(uint64_t v)
  {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }

  std::string out_;
};


struct Exec
{
  std::string executor;
  bool revocable;
  double cpus;
  double cpuSecs; // cumulative user + system
};


inline Writer scalarResource(const std::string& name, double value, bool revocable)
{
  Writer r;
  r.bytes(1, name).varint(2, 0).message(3, Writer().fixed64(1, value));
  if (revocable) {
    r.message(9, Writer());
  }
  return r;
}


// A ResourceUsage at time `ts` on an agent with `totalCpus`.
inline std::string usage(double ts, double totalCpus, const std::vector<Exec>& execs)
{
  Writer u;
  for (size_t i = 0; i < execs.size(); i++) {
    const Exec& e = execs[i];
    Writer info;
    info.message(1, Writer().bytes(1, e.executor))
      .message(8, Writer().bytes(1, "fw-1"));
    Writer stats;
    stats.fixed64(1, ts)
      .fixed64(2, e.cpuSecs * 0.8)
      .fixed64(3, e.cpuSecs * 0.2)
      .fixed64(4, e.cpus);
    Writer executor;
    executor.message(1, info)
      .message(2, scalarResource("cpus", e.cpus, e.revocable))
      .message(2, scalarResource("mem", 256, e.revocable))
      .message(3, stats)
      .message(4, Writer().bytes(1, "container-" + e.executor));
    u.message(1, executor);
  }
  u.message(2, scalarResource("cpus", totalCpus, false));
  u.message(2, scalarResource("mem", 8192, false));
  return u.str();
}

} // namespace tests {
} // namespace serenity {

#endif // __SERENITY_TESTS_USAGE_BUILDER_HPP__
