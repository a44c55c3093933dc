// The two Mesos modules of libserenity_mesos.so: their create() functions
// and the Module<> globals the agent finds with dlsym. The logic lives in
// serenity_estimator.cpp and serenity_qos_controller.cpp.

#include <glog/logging.h>

#include <mesos/mesos.hpp>
#include <mesos/module.hpp>

#include <mesos/module/qos_controller.hpp>
#include <mesos/module/resource_estimator.hpp>

#include <mesos/slave/qos_controller.hpp>
#include <mesos/slave/resource_estimator.hpp>

#include <stout/try.hpp>

#include "serenity_common.hpp"
#include "serenity_estimator.hpp"
#include "serenity_qos_controller.hpp"

using mesos::Parameters;

using mesos::modules::Module;

using mesos::slave::QoSController;
using mesos::slave::ResourceEstimator;

// Built with -fvisibility=hidden: only the two modules are exported.
#define SERENITY_MODULE_EXPORT __attribute__((visibility("default")))

namespace {

ResourceEstimator* createEstimator(const Parameters& parameters)
{
  Try<ResourceEstimator*> estimator =
    serenity::agent::SerenityEstimator::create(parameters);
  if (estimator.isError()) {
    LOG(ERROR) << "Failed to create the Serenity resource estimator "
               << "(org_serenity_rs_SerenityEstimator): "
               << estimator.error();
    return nullptr;
  }
  return estimator.get();
}


QoSController* createQoSController(const Parameters& parameters)
{
  Try<QoSController*> controller =
    serenity::agent::SerenityQoSController::create(parameters);
  if (controller.isError()) {
    LOG(ERROR) << "Failed to create the Serenity QoS controller "
               << "(org_serenity_rs_SerenityQoSController): "
               << controller.error();
    return nullptr;
  }
  return controller.get();
}


bool compatible()
{
  return serenity::agent::compatible();
}

} // namespace {


SERENITY_MODULE_EXPORT Module<ResourceEstimator>
org_serenity_rs_SerenityEstimator(
    MESOS_MODULE_API_VERSION,
    MESOS_VERSION,
    "Serenity in Rust",
    "serenity-rs@example.invalid",
    "Serenity resource estimator: revocable slack from a TOML pipeline.",
    compatible,
    createEstimator);


SERENITY_MODULE_EXPORT Module<QoSController>
org_serenity_rs_SerenityQoSController(
    MESOS_MODULE_API_VERSION,
    MESOS_VERSION,
    "Serenity in Rust",
    "serenity-rs@example.invalid",
    "Serenity QoS controller: revokes best-effort work from a TOML pipeline.",
    compatible,
    createQoSController);
