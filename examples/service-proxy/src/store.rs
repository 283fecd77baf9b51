//! The cluster as the proxy knows it: Services, EndpointSlices and this
//! node, updated by events from any source.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label an EndpointSlice names its Service with.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `namespace/name` of an object.
pub type ObjKey = (String, String);

/// One API object the proxy cares about.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A Service.
    Service(Box<Service>),
    /// An EndpointSlice (discovery.k8s.io/v1).
    Slice(Box<EndpointSlice>),
    /// A Node (only the proxy's own node is kept).
    Node(Box<Node>),
}

/// Which kind an [`Object`] is, for whole-kind replacement after a re-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Services.
    Service,
    /// EndpointSlices.
    Slice,
    /// Nodes.
    Node,
}

/// A change to the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Added or modified.
    Upsert(Object),
    /// Deleted.
    Delete(Object),
    /// Every object of `kind` from one source is exactly this list (a
    /// (re-)list, or a manifest directory re-read).
    Replace(Kind, Vec<Object>),
}

impl Object {
    /// `namespace/name` (namespace empty for cluster-scoped objects).
    pub fn key(&self) -> ObjKey {
        let meta = match self {
            Object::Service(s) => &s.metadata,
            Object::Slice(s) => &s.metadata,
            Object::Node(n) => &n.metadata,
        };
        (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        )
    }

    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Service(_) => Kind::Service,
            Object::Slice(_) => Kind::Slice,
            Object::Node(_) => Kind::Node,
        }
    }
}

/// What changed in a [`Cluster`] since the last [`Cluster::take_changes`]:
/// the Services whose translation may differ (the Service itself, or one
/// of its EndpointSlices, changed, appeared or went).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Everything may have changed (a new snapshot): translate it all.
    pub all: bool,
    /// The Services (`namespace/name`) touched.
    pub services: BTreeSet<ObjKey>,
}

impl Changes {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.all && self.services.is_empty()
    }
}

/// Services, EndpointSlices (grouped by the Service they belong to) and
/// this node. Changed only through [`Cluster::apply`], which also records
/// which Services it touched ([`Cluster::take_changes`]) so that a sync
/// re-translates only those.
#[derive(Debug, Clone)]
pub struct Cluster {
    services: BTreeMap<ObjKey, Service>,
    /// EndpointSlices by the `namespace/name` of their Service, then by
    /// slice name. Slices without the service-name label are kept under
    /// an empty service name (never used).
    slices: BTreeMap<ObjKey, BTreeMap<String, EndpointSlice>>,
    /// Which Service each slice (`namespace/slice name`) is filed under.
    slice_owner: BTreeMap<ObjKey, String>,
    node: Option<Node>,
    /// The node name the proxy runs as (`--hostname-override`).
    pub node_name: String,
    changes: Changes,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster::new("")
    }
}

impl Cluster {
    /// An empty snapshot for the node `node_name`. Its first
    /// [`take_changes`](Cluster::take_changes) says "everything".
    pub fn new(node_name: impl Into<String>) -> Self {
        Cluster {
            services: BTreeMap::new(),
            slices: BTreeMap::new(),
            slice_owner: BTreeMap::new(),
            node: None,
            node_name: node_name.into(),
            changes: Changes {
                all: true,
                services: BTreeSet::new(),
            },
        }
    }

    /// Services by `namespace/name`.
    pub fn services(&self) -> &BTreeMap<ObjKey, Service> {
        &self.services
    }

    /// This node's object, when a source provided it.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_ref()
    }

    /// The changes recorded since the last call (the first call after
    /// [`Cluster::new`] says "everything"), and start recording anew.
    /// Node changes are not recorded here: the Node shapes only the
    /// NodePort addresses, which the translator compares itself.
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    /// Apply one event. Returns whether anything changed.
    pub fn apply(&mut self, event: Event) -> bool {
        match event {
            Event::Upsert(o) => self.upsert(o),
            Event::Delete(o) => self.delete(&o),
            Event::Replace(kind, objects) => {
                let objects = objects.into_iter().filter(|o| o.kind() == kind);
                let changed: Vec<ObjKey> = match kind {
                    Kind::Service => {
                        let old = std::mem::take(&mut self.services);
                        for o in objects {
                            self.upsert_quiet(o);
                        }
                        changed_keys(&old, &self.services).collect()
                    }
                    Kind::Slice => {
                        let old = std::mem::take(&mut self.slices);
                        self.slice_owner.clear();
                        for o in objects {
                            self.upsert_quiet(o);
                        }
                        changed_keys(&old, &self.slices).collect()
                    }
                    Kind::Node => {
                        let old = self.node.take();
                        for o in objects {
                            self.upsert_quiet(o);
                        }
                        return old != self.node;
                    }
                };
                let any = !changed.is_empty();
                self.changes.services.extend(changed);
                any
            }
        }
    }

    /// Upsert without recording (a Replace records by comparing).
    fn upsert_quiet(&mut self, o: Object) {
        let keep = std::mem::take(&mut self.changes);
        self.upsert(o);
        self.changes = keep;
    }

    fn upsert(&mut self, o: Object) -> bool {
        let (ns, name) = o.key();
        match o {
            Object::Service(s) => {
                let s = *s;
                let key = (ns, name);
                let old = self.services.insert(key.clone(), s.clone());
                let changed = old.as_ref() != Some(&s);
                if changed {
                    self.changes.services.insert(key);
                }
                changed
            }
            Object::Slice(s) => {
                let s = *s;
                let svc = slice_service(&s);
                // A slice may move between services only by relabelling:
                // drop it from wherever it was.
                let mut changed = self.remove_slice(&ns, &name, Some(&svc));
                self.slice_owner
                    .insert((ns.clone(), name.clone()), svc.clone());
                let group_key = (ns, svc);
                let group = self.slices.entry(group_key.clone()).or_default();
                let old = group.insert(name, s.clone());
                if old.as_ref() != Some(&s) {
                    changed = true;
                    self.changes.services.insert(group_key);
                }
                changed
            }
            Object::Node(n) => {
                if name != self.node_name {
                    return false;
                }
                let n = *n;
                let changed = self.node.as_ref() != Some(&n);
                self.node = Some(n);
                changed
            }
        }
    }

    fn delete(&mut self, o: &Object) -> bool {
        let (ns, name) = o.key();
        match o {
            Object::Service(_) => {
                let key = (ns, name);
                let gone = self.services.remove(&key).is_some();
                if gone {
                    self.changes.services.insert(key);
                }
                gone
            }
            Object::Slice(_) => self.remove_slice(&ns, &name, None),
            Object::Node(_) => name == self.node_name && self.node.take().is_some(),
        }
    }

    /// Remove slice `ns/name` from the group it is filed under, unless
    /// that is `keep`.
    fn remove_slice(&mut self, ns: &str, name: &str, keep: Option<&str>) -> bool {
        let key = (ns.to_string(), name.to_string());
        let Some(svc) = self.slice_owner.get(&key) else {
            return false;
        };
        if Some(svc.as_str()) == keep {
            return false;
        }
        let group_key = (ns.to_string(), svc.clone());
        self.slice_owner.remove(&key);
        let Some(group) = self.slices.get_mut(&group_key) else {
            return false;
        };
        let changed = group.remove(name).is_some();
        if group.is_empty() {
            self.slices.remove(&group_key);
        }
        if changed {
            self.changes.services.insert(group_key);
        }
        changed
    }

    /// The slices of Service `namespace/name`.
    pub fn slices_of<'a>(&'a self, key: &ObjKey) -> impl Iterator<Item = &'a EndpointSlice> + 'a {
        self.slices.get(key).into_iter().flat_map(|g| g.values())
    }
}

/// Keys whose value differs between `old` and `new` (added, removed or
/// changed).
fn changed_keys<'a, V: PartialEq>(
    old: &'a BTreeMap<ObjKey, V>,
    new: &'a BTreeMap<ObjKey, V>,
) -> impl Iterator<Item = ObjKey> + 'a {
    let gone_or_changed = old
        .iter()
        .filter(|(k, v)| new.get(*k) != Some(*v))
        .map(|(k, _)| k.clone());
    let added = new.keys().filter(|k| !old.contains_key(*k)).cloned();
    gone_or_changed.chain(added)
}

/// The Service an EndpointSlice belongs to (its service-name label).
pub fn slice_service(s: &EndpointSlice) -> String {
    s.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .cloned()
        .unwrap_or_default()
}
