//! The desired state: plain values a proxy can build or load from a file.

use std::collections::HashSet;
use std::net::SocketAddr;

use super::policy::Scope;
use super::table::Table;
use crate::error::{Error, Operation, Result};
use crate::model::{Destination, Service, ServiceKey, TableEntry};
use crate::rules::{Rule, Rules};

/// Everything the reconciler should make exist in its [`Scope`]: services
/// with their full configuration and their destinations.
///
/// With the `serde` feature it loads from JSON, YAML, TOML…:
///
/// ```json
/// { "services": [
///     { "key": { "addr": { "protocol": "tcp", "addr": "10.0.0.1:80" } },
///       "scheduler": "rr",
///       "destinations": [ { "addr": "192.168.1.2:8080", "weight": 3 } ] } ] }
/// ```
///
/// Omitted fields take the model's defaults (scheduler `wlc`, no
/// persistence, NAT forwarding, weight 1, no thresholds), except
/// `services`, which must be there (`[]` to remove everything in scope).
/// An unknown field anywhere is an error: a misspelt key must not turn
/// into a default, or an empty state that removes every service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct DesiredState {
    /// The services, each with its destinations. Order matters only for
    /// new destinations: a service created from scratch lists its
    /// destinations in the kernel in this order.
    pub services: Vec<DesiredService>,
}

/// One desired service and its destinations.
///
/// # Example
/// ```
/// use lvs::reconcile::{DesiredService, DesiredState};
/// use lvs::{Destination, Service, ServiceKey};
///
/// let key = ServiceKey::tcp(([10, 0, 0, 1], 80));
/// let web = DesiredService::new(Service::new(key), [Destination::new(([192, 168, 1, 2], 80))]);
/// let desired: DesiredState = [web].into_iter().collect();
/// assert_eq!(desired.get(&key).map(|s| s.destinations.len()), Some(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(from = "DesiredServiceFields"))]
#[non_exhaustive]
pub struct DesiredService {
    /// The service's identity and configuration (its fields sit at the
    /// same level as `destinations` in serialized form).
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub service: Service,
    /// Its destinations, each address at most once.
    #[cfg_attr(feature = "serde", serde(default))]
    pub destinations: Vec<Destination>,
}

/// The serialized form of a [`DesiredService`]: the service's fields and
/// `destinations` side by side. Spelled out (rather than a flattened
/// [`Service`]) so that an unknown or misspelt field is an error, not a
/// silently ignored setting.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DesiredServiceFields {
    key: crate::ServiceKey,
    #[serde(default)]
    scheduler: crate::Scheduler,
    #[serde(default)]
    persistence: Option<crate::Persistence>,
    #[serde(default)]
    one_packet: bool,
    #[serde(default)]
    persistence_engine: Option<String>,
    #[serde(default)]
    destinations: Vec<Destination>,
}

#[cfg(feature = "serde")]
impl From<DesiredServiceFields> for DesiredService {
    fn from(f: DesiredServiceFields) -> Self {
        let mut service = Service::new(f.key);
        service.scheduler = f.scheduler;
        service.persistence = f.persistence;
        service.one_packet = f.one_packet;
        service.persistence_engine = f.persistence_engine;
        DesiredService {
            service,
            destinations: f.destinations,
        }
    }
}

impl DesiredService {
    /// A service with these destinations.
    pub fn new(service: Service, destinations: impl IntoIterator<Item = Destination>) -> Self {
        DesiredService {
            service,
            destinations: destinations.into_iter().collect(),
        }
    }
}

impl DesiredState {
    /// The kernel modules its services need, each once, sorted (see
    /// [`Service::kernel_modules`]). A program applying states as they
    /// come passes them to `lvs::kmod::ensure_loaded` first (Linux).
    ///
    /// ```
    /// use lvs::{reconcile::DesiredState, Scheduler, Service, ServiceKey};
    /// let state = DesiredState::new()
    ///     .with_service(Service::new(ServiceKey::tcp("10.0.0.1:80".parse::<std::net::SocketAddr>()?)), [])
    ///     .with_service(
    ///         Service::new(ServiceKey::tcp("10.0.0.2:80".parse::<std::net::SocketAddr>()?)).with_scheduler(Scheduler::Lblc),
    ///         [],
    ///     )
    ///     .with_service(Service::new(ServiceKey::tcp("10.0.0.3:80".parse::<std::net::SocketAddr>()?)), []);
    /// assert_eq!(state.kernel_modules(), ["ip_vs_lblc", "ip_vs_wlc"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kernel_modules(&self) -> Vec<String> {
        let all: std::collections::BTreeSet<String> = self
            .services
            .iter()
            .flat_map(|s| s.service.kernel_modules())
            .collect();
        all.into_iter().collect()
    }

    /// No services at all: reconciling it removes everything in scope.
    pub fn new() -> Self {
        DesiredState::default()
    }

    /// Add a service with its destinations (builder style).
    pub fn with_service(
        mut self,
        service: impl Into<Service>,
        destinations: impl IntoIterator<Item = Destination>,
    ) -> Self {
        self.push(service, destinations);
        self
    }

    /// Add a service with its destinations.
    pub fn push(
        &mut self,
        service: impl Into<Service>,
        destinations: impl IntoIterator<Item = Destination>,
    ) {
        self.services
            .push(DesiredService::new(service.into(), destinations));
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// `true` with no services.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// The desired service with this key, if any.
    pub fn get(&self, key: &ServiceKey) -> Option<&DesiredService> {
        self.services.iter().find(|s| s.service.key == *key)
    }

    /// Check everything [`plan`](super::plan) relies on: each service and
    /// destination is valid ([`Service::validate`],
    /// [`Destination::validate_for`]), no service key or destination
    /// address appears twice, and every service lies inside `scope` (a
    /// desired service the reconciler may not manage is a configuration
    /// error, not something to skip silently).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// naming the first offending service or destination.
    pub fn validate(&self, scope: &Scope) -> Result<()> {
        let mut keys = HashSet::with_capacity(self.services.len());
        for ds in &self.services {
            let key = ds.service.key;
            ds.service
                .validate()
                .map_err(|e| e.with_operation(Operation::AddService(key)))?;
            admit(&mut keys, key, scope)?;
            // Few destinations per service: a scan beats hashing them.
            let mut addrs: HashSet<SocketAddr> = HashSet::new();
            for (i, d) in ds.destinations.iter().enumerate() {
                let dop = || Operation::AddDestination {
                    service: key,
                    dest: d.addr,
                };
                d.validate_for(&key).map_err(|e| e.with_operation(dop()))?;
                let twice = if ds.destinations.len() <= 16 {
                    ds.destinations[..i].iter().any(|p| p.addr == d.addr)
                } else {
                    !addrs.insert(d.addr)
                };
                if twice {
                    return Err(Error::invalid(
                        dop(),
                        "desired.destinations",
                        format!("destination {} is listed twice for service {key}", d.addr),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Admit the desired service `key` among `keys` (those seen so far):
/// an error if it is listed twice or lies outside `scope`.
pub(super) fn admit(keys: &mut HashSet<ServiceKey>, key: ServiceKey, scope: &Scope) -> Result<()> {
    if !keys.insert(key) {
        return Err(listed_twice(key));
    }
    in_scope(key, scope)
}

/// The error for a desired service listed twice.
pub(super) fn listed_twice(key: ServiceKey) -> Error {
    Error::invalid(
        Operation::AddService(key),
        "desired.services",
        format!("service {key} is listed twice in the desired state"),
    )
}

/// An error if the desired service `key` lies outside `scope` (a desired
/// service the reconciler may not manage is a configuration error, not
/// something to skip silently).
pub(super) fn in_scope(key: ServiceKey, scope: &Scope) -> Result<()> {
    if scope.contains(&key) {
        return Ok(());
    }
    Err(Error::invalid(
        Operation::AddService(key),
        "desired.services",
        format!(
            "service {key} is outside the reconciler's scope ({scope}); \
             widen the scope or leave the service to whoever owns it"
        ),
    ))
}

impl FromIterator<DesiredService> for DesiredState {
    fn from_iter<T: IntoIterator<Item = DesiredService>>(iter: T) -> Self {
        DesiredState {
            services: iter.into_iter().collect(),
        }
    }
}

impl DesiredState {
    /// The state a whole-table read shows (e.g.
    /// [`Handle::table`](crate::Handle::table)): its services in read
    /// order, each with its destinations in kernel list order (newest
    /// first), which is the order reconciling onto an empty kernel
    /// re-creates. Counters are dropped.
    pub fn from_table(table: &[TableEntry]) -> Self {
        table
            .iter()
            .map(|e| {
                DesiredService::new(
                    e.service.service.clone(),
                    e.destinations.iter().map(|d| d.destination),
                )
            })
            .collect()
    }

    /// The state an `ipvsadm -R` of `rules` leaves on an empty kernel: the
    /// commands run in order with the kernel's semantics (`-a` lists a
    /// destination first, `-E`/`-e` change in place, `-D`/`-d`/`-C`
    /// remove), so destinations come out in the order the kernel would
    /// list them.
    ///
    /// # Errors
    /// The first command that would fail on that kernel, with the kernel's
    /// error kind (`ServiceExists`, `ServiceNotFound`, `DestinationExists`,
    /// `DestinationNotFound`) or
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// (including `--set`: timeouts are no part of a desired state).
    ///
    /// ```
    /// use lvs::reconcile::DesiredState;
    /// use lvs::rules::Rules;
    ///
    /// let rules = Rules::parse("\
    /// -A -t 10.0.0.1:80 -s rr
    /// -a -t 10.0.0.1:80 -r 192.168.1.2:80 -m
    /// -a -t 10.0.0.1:80 -r 192.168.1.3:80 -m
    /// ").unwrap();
    /// let desired = DesiredState::from_rules(&rules)?;
    /// // The kernel lists the newest destination first.
    /// let addrs: Vec<String> = desired.services[0].destinations.iter().map(|d| d.addr.to_string()).collect();
    /// assert_eq!(addrs, ["192.168.1.3:80", "192.168.1.2:80"]);
    /// // And back: rules that re-create it, oldest destination first.
    /// assert_eq!(desired.to_rules(), rules);
    /// # Ok::<(), lvs::Error>(())
    /// ```
    pub fn from_rules(rules: &Rules) -> Result<Self> {
        let mut table = Table::default();
        for rule in rules {
            if let Rule::SetTimeouts(_) = rule {
                return Err(Error::invalid(
                    Operation::SetTimeouts,
                    "rules",
                    "--set (timeouts) is no part of a desired state",
                ));
            }
            table.execute(&rule.op())?;
        }
        Ok(DesiredState::from_table(&table.entries()))
    }

    /// The `ipvsadm -R` commands that create this state on an empty
    /// kernel: per service, `-A` and then its destinations in reverse
    /// order (the kernel lists the newest first, so it then lists them in
    /// this state's order). Print it for the rule text.
    pub fn to_rules(&self) -> Rules {
        let mut rules = Vec::new();
        for ds in &self.services {
            rules.push(Rule::AddService(ds.service.clone()));
            rules.extend(
                ds.destinations
                    .iter()
                    .rev()
                    .map(|d| Rule::AddServer(ds.service.key, *d)),
            );
        }
        Rules::from(rules)
    }
}

impl From<&[TableEntry]> for DesiredState {
    fn from(table: &[TableEntry]) -> Self {
        DesiredState::from_table(table)
    }
}

impl From<Vec<TableEntry>> for DesiredState {
    fn from(table: Vec<TableEntry>) -> Self {
        DesiredState::from_table(&table)
    }
}
