// The Serenity resource estimator: a mesos::slave::ResourceEstimator whose
// estimate comes from a Rust pipeline (the C ABI, through serenity.hpp).

#ifndef __SERENITY_MESOS_SERENITY_ESTIMATOR_HPP__
#define __SERENITY_MESOS_SERENITY_ESTIMATOR_HPP__

#include <memory>

#include <mesos/mesos.hpp>
#include <mesos/resources.hpp>

#include <mesos/slave/resource_estimator.hpp>

#include <process/future.hpp>
#include <process/owned.hpp>

#include <stout/lambda.hpp>
#include <stout/nothing.hpp>
#include <stout/try.hpp>

#include <serenity/serenity.hpp>

namespace serenity {
namespace agent {

class SerenityEstimatorProcess;


// Backed by its own libprocess actor (id "serenity-estimator"), so that
// oversubscribable() returns at once: the actor fetches usage(), runs the
// pipeline and completes the future (a Failure on any error; the agent then
// keeps its previous estimate). The estimate is revocable, unreserved `cpus`
// and `mem` with no role, net of the revocable resources already allocated.
class SerenityEstimator : public mesos::slave::ResourceEstimator
{
public:
  // Builds the pipeline named by the `pipeline` parameter, with every
  // `override`; an Error carries every configuration problem.
  static Try<mesos::slave::ResourceEstimator*> create(
      const mesos::Parameters& parameters);

  ~SerenityEstimator() override;

  Try<Nothing> initialize(
      const lambda::function<process::Future<mesos::ResourceUsage>()>& usage)
    override;

  process::Future<mesos::Resources> oversubscribable() override;

private:
  explicit SerenityEstimator(std::shared_ptr<serenity::Estimator> estimator);

  std::shared_ptr<serenity::Estimator> estimator;
  process::Owned<SerenityEstimatorProcess> process;
};

} // namespace agent {
} // namespace serenity {

#endif // __SERENITY_MESOS_SERENITY_ESTIMATOR_HPP__
