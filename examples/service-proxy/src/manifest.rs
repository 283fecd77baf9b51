//! Parsing objects as `kubectl` prints them: YAML or JSON, single objects,
//! `List`s (typed or generic), multi-document YAML, and the watch-event
//! stream of `kubectl get --watch --output-watch-events -o json`.

use serde_json::Value;

use crate::store::{Event, Object};

/// Why some input was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where: a file name, `stdin`, an object's `Kind ns/name`.
    pub what: String,
    /// Why.
    pub reason: String,
}

/// Objects found in a document, plus what was skipped.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Services, EndpointSlices and Nodes.
    pub objects: Vec<Object>,
    /// Bad documents and objects (other kinds are ignored silently).
    pub skipped: Vec<Skipped>,
}

fn describe(v: &Value) -> String {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("object");
    let meta = v.get("metadata");
    let ns = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    if ns.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {ns}/{name}")
    }
}

/// One object from a JSON value; `kind_hint` is the kind implied by a typed
/// list (`ServiceList` items carry no `kind`). `Ok(None)` for kinds the
/// proxy does not use.
pub fn object(v: Value, kind_hint: Option<&str>) -> Result<Option<Object>, Skipped> {
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .or(kind_hint)
        .unwrap_or("")
        .to_string();
    let what = describe(&v);
    let bad = |e: serde_json::Error| Skipped {
        what: what.clone(),
        reason: e.to_string(),
    };
    Ok(Some(match kind.as_str() {
        "Service" => Object::Service(Box::new(serde_json::from_value(v).map_err(bad)?)),
        "EndpointSlice" => Object::Slice(Box::new(serde_json::from_value(v).map_err(bad)?)),
        "Node" => Object::Node(Box::new(serde_json::from_value(v).map_err(bad)?)),
        _ => return Ok(None),
    }))
}

/// Objects in one JSON value: an object or a (typed or generic) list.
pub fn collect(v: Value, out: &mut Parsed) {
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(item_kind) = kind.strip_suffix("List") {
        let hint = (!item_kind.is_empty()).then_some(item_kind);
        let items = match v {
            Value::Object(mut m) => m.remove("items"),
            _ => None,
        };
        for item in items
            .and_then(|i| match i {
                Value::Array(a) => Some(a),
                _ => None,
            })
            .into_iter()
            .flatten()
        {
            push(object(item, hint), out);
        }
        return;
    }
    push(object(v, None), out);
}

fn push(r: Result<Option<Object>, Skipped>, out: &mut Parsed) {
    match r {
        Ok(Some(o)) => out.objects.push(o),
        Ok(None) => {}
        Err(s) => out.skipped.push(s),
    }
}

/// Every object in a file's text, JSON or (multi-document) YAML. `name`
/// labels the problems.
pub fn parse_text(name: &str, text: &str) -> Parsed {
    let mut out = Parsed::default();
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // JSON: one value, or several concatenated (kubectl -o json
        // --watch prints objects one after another).
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        for v in stream.by_ref() {
            match v {
                Ok(v) => collect(v, &mut out),
                Err(e) => {
                    out.skipped.push(Skipped {
                        what: name.to_string(),
                        reason: format!("bad JSON: {e}"),
                    });
                    break;
                }
            }
        }
        return out;
    }
    for doc in serde_norway::Deserializer::from_str(text) {
        match <Value as serde::Deserialize>::deserialize(doc) {
            Ok(Value::Null) => {}
            Ok(v) => collect(v, &mut out),
            Err(e) => {
                out.skipped.push(Skipped {
                    what: name.to_string(),
                    reason: format!("bad YAML: {e}"),
                });
                break;
            }
        }
    }
    out
}

/// One watch event as `kubectl get --watch --output-watch-events -o json`
/// prints it: `{"type": "ADDED"|"MODIFIED"|"DELETED", "object": {...}}`.
/// A bare object (kubectl without `--output-watch-events`) is an upsert.
/// `Ok(None)` for kinds and event types the proxy does not use.
pub fn watch_event(v: Value) -> Result<Option<Event>, Skipped> {
    let (ty, obj) = match (v.get("type").and_then(Value::as_str), v.get("object")) {
        (Some(t), Some(_)) => {
            let t = t.to_string();
            let obj = match v {
                Value::Object(mut m) => m.remove("object").unwrap_or(Value::Null),
                _ => Value::Null,
            };
            (t, obj)
        }
        _ => ("ADDED".to_string(), v),
    };
    let Some(o) = object(obj, None)? else {
        return Ok(None);
    };
    Ok(match ty.as_str() {
        "ADDED" | "MODIFIED" => Some(Event::Upsert(o)),
        "DELETED" => Some(Event::Delete(o)),
        _ => None,
    })
}
