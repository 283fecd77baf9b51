//! The cluster as the proxy knows it: Services, EndpointSlices and this
//! node, updated by events from any source.

use std::collections::BTreeMap;

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

/// Services, EndpointSlices (grouped by the Service they belong to) and
/// this node.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Services by `namespace/name`.
    pub services: BTreeMap<ObjKey, Service>,
    /// EndpointSlices by the `namespace/name` of their Service, then by
    /// slice name. Slices without the service-name label are kept under
    /// an empty service name (never used).
    pub slices: BTreeMap<ObjKey, BTreeMap<String, EndpointSlice>>,
    /// Which Service each slice (`namespace/slice name`) is filed under.
    slice_owner: BTreeMap<ObjKey, String>,
    /// This node's object, when a source provided it.
    pub node: Option<Node>,
    /// The node name the proxy runs as (`--hostname-override`).
    pub node_name: String,
}

impl Cluster {
    /// An empty snapshot for the node `node_name`.
    pub fn new(node_name: impl Into<String>) -> Self {
        Cluster {
            node_name: node_name.into(),
            ..Cluster::default()
        }
    }

    /// Apply one event. Returns whether anything changed.
    pub fn apply(&mut self, event: Event) -> bool {
        match event {
            Event::Upsert(o) => self.upsert(o),
            Event::Delete(o) => self.delete(&o),
            Event::Replace(kind, objects) => {
                let before = self.fingerprint(kind);
                match kind {
                    Kind::Service => self.services.clear(),
                    Kind::Slice => {
                        self.slices.clear();
                        self.slice_owner.clear();
                    }
                    Kind::Node => self.node = None,
                }
                for o in objects.into_iter().filter(|o| o.kind() == kind) {
                    self.upsert(o);
                }
                before != self.fingerprint(kind)
            }
        }
    }

    fn fingerprint(&self, kind: Kind) -> String {
        // Cheap enough for a re-list; exact, unlike a count.
        match kind {
            Kind::Service => format!("{:?}", self.services),
            Kind::Slice => format!("{:?}", self.slices),
            Kind::Node => format!("{:?}", self.node),
        }
    }

    fn upsert(&mut self, o: Object) -> bool {
        let (ns, name) = o.key();
        match o {
            Object::Service(s) => {
                let s = *s;
                let old = self.services.insert((ns, name), s.clone());
                old.as_ref() != Some(&s)
            }
            Object::Slice(s) => {
                let s = *s;
                let svc = slice_service(&s);
                // A slice may move between services only by relabelling:
                // drop it from wherever it was.
                let mut changed = self.remove_slice(&ns, &name, Some(&svc));
                self.slice_owner
                    .insert((ns.clone(), name.clone()), svc.clone());
                let group = self.slices.entry((ns, svc)).or_default();
                let old = group.insert(name, s.clone());
                changed |= old.as_ref() != Some(&s);
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
            Object::Service(_) => self.services.remove(&(ns, name)).is_some(),
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
        changed
    }

    /// The slices of Service `namespace/name`.
    pub fn slices_of<'a>(&'a self, key: &ObjKey) -> impl Iterator<Item = &'a EndpointSlice> + 'a {
        self.slices.get(key).into_iter().flat_map(|g| g.values())
    }
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
