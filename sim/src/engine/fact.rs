//! Typed facts: what a model states about itself (a leader and its term, a committed map, a
//! PG's state) as a value of the model's own type, which checks read back with a downcast and
//! a pattern match instead of parsing a string. A changed field is then a compile error in
//! the check, not a record the check silently stops recognising. Each fact also serialises
//! itself for the trace, under its stable `kind`.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// A model-specific fact. Implemented by plain data types (see `models::etcd::facts` and
/// `models::ceph::facts`); `to_json` is what the trace shows.
pub trait Fact: Any + fmt::Debug + Send + Sync {
    /// Stable name of the fact type, e.g. `etcd/leader`.
    fn kind(&self) -> &'static str;
    /// The fact's fields for the trace.
    fn to_json(&self) -> serde_json::Value;
}

impl dyn Fact {
    /// The fact as its concrete type, if it is a `T`.
    pub fn downcast_ref<T: Fact>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref::<T>()
    }
}

/// Serialises a fact type's fields for [`Fact::to_json`] (`Null` if it cannot, which plain
/// data types never hit).
pub fn fact_json<T: Serialize>(fact: &T) -> serde_json::Value {
    serde_json::to_value(fact).unwrap_or(serde_json::Value::Null)
}

/// A fact as the log and the trace keep it: shared, cheap to clone, comparable by content.
#[derive(Clone)]
pub struct FactRecord(Arc<dyn Fact>);

impl FactRecord {
    /// Wraps `fact`.
    pub fn new(fact: impl Fact) -> Self {
        FactRecord(Arc::new(fact))
    }

    /// The fact as a `T`, if it is one: how a check reads it.
    pub fn get<T: Fact>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// Its kind.
    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }
}

impl fmt::Debug for FactRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for FactRecord {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.0.to_json() == other.0.to_json()
    }
}

impl Eq for FactRecord {}

impl Serialize for FactRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("fact", self.kind())?;
        map.serialize_entry("value", &self.0.to_json())?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize)]
    struct Leader {
        host: String,
        term: u64,
    }

    impl Fact for Leader {
        fn kind(&self) -> &'static str {
            "test/leader"
        }
        fn to_json(&self) -> serde_json::Value {
            fact_json(self)
        }
    }

    #[derive(Debug, Serialize)]
    struct Other;

    impl Fact for Other {
        fn kind(&self) -> &'static str {
            "test/other"
        }
        fn to_json(&self) -> serde_json::Value {
            fact_json(self)
        }
    }

    #[test]
    fn a_fact_reads_back_as_its_type_and_only_as_its_type() {
        let record = FactRecord::new(Leader {
            host: "n1".into(),
            term: 3,
        });
        assert_eq!(
            record.get::<Leader>(),
            Some(&Leader {
                host: "n1".into(),
                term: 3
            })
        );
        assert!(record.get::<Other>().is_none());
        assert_eq!(record.clone(), record);
        assert_ne!(record, FactRecord::new(Other));
    }

    #[test]
    fn a_fact_serialises_with_its_kind_and_fields() {
        let record = FactRecord::new(Leader {
            host: "n1".into(),
            term: 3,
        });
        assert_eq!(
            serde_json::to_string(&record).expect("json"),
            r#"{"fact":"test/leader","value":{"host":"n1","term":3}}"#
        );
    }
}
