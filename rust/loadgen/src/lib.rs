//! `serenity-loadgen`: an open-loop load generator for memcached's text
//! protocol, the latency-critical workload of Serenity's closed-loop SLO
//! test (tests/slo).
//!
//! Requests leave on a Poisson schedule at a fixed rate over N connections
//! ([`rng`]), whatever the server does; each latency runs from the request's
//! scheduled send time ([`load`]). Every window (1 s by default) gives exact
//! nearest-rank p50/p95/p99/max and counts as one JSON line, with a fine
//! histogram to merge windows by ([`histogram`], [`window`]); `/metrics`
//! serves a cumulative Prometheus histogram and the last window's
//! quantiles ([`metrics`]).

#![forbid(unsafe_code)]

pub mod histogram;
pub mod load;
pub mod metrics;
pub mod protocol;
pub mod rng;
pub mod window;
