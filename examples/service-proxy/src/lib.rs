//! `lvs-proxy`: a Kubernetes node service proxy with the semantics of
//! kube-proxy's IPVS mode, built on `lvs`.
//!
//! The pieces, in the order data flows through them:
//!
//! | module | what it does |
//! |---|---|
//! | [`source`] | manifests, `kubectl --watch` output, or a live API server -> [`store::Event`]s |
//! | [`store`] | the cluster snapshot the events keep up to date |
//! | [`translate`] | pure: snapshot -> IPVS [`lvs::reconcile::DesiredState`], dummy-interface addresses, [`nft::Rules`], health checks |
//! | [`ipvs`] | the only place that calls the `lvs` reconciler |
//! | [`node`] | the dummy interface, sysctls and the nftables table |
//! | [`http`] | `/healthz`, `/metrics`, health-check node ports |
//! | [`proxy`] | one sync pass over all of the above |

#![deny(missing_docs)]

pub mod http;
pub mod ipvs;
pub mod manifest;
pub mod metrics;
pub mod nft;
pub mod node;
pub mod proxy;
pub mod source;
pub mod store;
pub mod translate;
