// The Serenity QoS controller: a mesos::slave::QoSController whose kill
// decisions come from a Rust pipeline (the C ABI, through serenity.hpp).

#ifndef __SERENITY_MESOS_SERENITY_QOS_CONTROLLER_HPP__
#define __SERENITY_MESOS_SERENITY_QOS_CONTROLLER_HPP__

#include <list>
#include <memory>

#include <mesos/mesos.hpp>

#include <mesos/slave/oversubscription.hpp>
#include <mesos/slave/qos_controller.hpp>

#include <process/future.hpp>
#include <process/owned.hpp>

#include <stout/lambda.hpp>
#include <stout/nothing.hpp>
#include <stout/try.hpp>

#include <serenity/serenity.hpp>

namespace serenity {
namespace agent {

class SerenityQoSControllerProcess;


// Backed by its own libprocess actor (id "serenity-qos"), so corrections()
// returns at once. Pacing (the agent's --qos_correction_interval_min
// defaults to 0, so it asks again as soon as an answer arrives):
// - ticks start at least `interval_secs` (from the pipeline) apart: a call
//   that comes sooner first waits with process::after, never sleeping;
// - a tick with corrections answers at once;
// - a tick without corrections answers an empty list `interval_secs` after
//   the tick (long-poll style), so the agent is not kept busy.
// Every future completes: a Failure when usage() failed or the library
// refused the snapshot (the agent then logs it and asks again; the next
// tick still waits for its turn).
class SerenityQoSController : public mesos::slave::QoSController
{
public:
  // Builds the pipeline named by the `pipeline` parameter, with every
  // `override`; an Error carries every configuration problem.
  static Try<mesos::slave::QoSController*> create(
      const mesos::Parameters& parameters);

  ~SerenityQoSController() override;

  Try<Nothing> initialize(
      const lambda::function<process::Future<mesos::ResourceUsage>()>& usage)
    override;

  process::Future<std::list<mesos::slave::QoSCorrection>> corrections()
    override;

private:
  explicit SerenityQoSController(std::shared_ptr<serenity::QoSController> qos);

  std::shared_ptr<serenity::QoSController> qos;
  process::Owned<SerenityQoSControllerProcess> process;
};

} // namespace agent {
} // namespace serenity {

#endif // __SERENITY_MESOS_SERENITY_QOS_CONTROLLER_HPP__
