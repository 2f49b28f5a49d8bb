//! A list of records whose copies share the records themselves, so that copying the
//! registry for a change costs a pointer per record (not a deep copy of every server), and
//! finding what a change did compares pointers before contents: a write's cost stays
//! independent of how many servers the registry holds.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::ops::{Index, IndexMut};
use std::sync::Arc;

/// An ordered list of `T`; a record is copied only when a copy of the list changes it.
pub(crate) struct Records<T>(Vec<Arc<T>>);

/// What turned one list into another (see [`Records::diff`]).
pub(crate) struct Diff<'a, T> {
    /// Records of the old list whose id is gone.
    pub removed: Vec<&'a T>,
    /// Records of the new list that are new or changed, each with its old version.
    pub written: Vec<(Option<&'a T>, &'a T)>,
}

/// The records of a list, borrowed in order.
pub(crate) type Iter<'a, T> = std::iter::Map<std::slice::Iter<'a, Arc<T>>, fn(&Arc<T>) -> &T>;

impl<T> Clone for Records<T> {
    fn clone(&self) -> Self {
        Records(self.0.clone())
    }
}

impl<T> Default for Records<T> {
    fn default() -> Self {
        Records(Vec::new())
    }
}

impl<T: Clone> Records<T> {
    /// The records, in order.
    pub fn iter(&self) -> Iter<'_, T> {
        self.0.iter().map(|record| &**record)
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Adds `record` at the end.
    pub fn push(&mut self, record: T) {
        self.0.push(Arc::new(record));
    }

    /// Keeps the records for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.0.retain(|record| keep(record));
    }

    /// Takes out the record at `i`.
    pub fn remove(&mut self, i: usize) -> T {
        Arc::unwrap_or_clone(self.0.remove(i))
    }

    /// What changed from `self` to `next`, records matched by `id`. Records shared by both
    /// lists are unchanged without looking inside; only the stretch between the common
    /// start and the common end is compared by id.
    pub fn diff<'a>(&'a self, next: &'a Records<T>, id: impl Fn(&T) -> &str) -> Diff<'a, T>
    where
        T: PartialEq,
    {
        let (old, new) = (&self.0, &next.0);
        let shared = |a: &Arc<T>, b: &Arc<T>| Arc::ptr_eq(a, b);
        let start = old
            .iter()
            .zip(new)
            .take_while(|(a, b)| shared(a, b))
            .count();
        let end = old[start..]
            .iter()
            .rev()
            .zip(new[start..].iter().rev())
            .take_while(|(a, b)| shared(a, b))
            .count();
        let (old, new) = (&old[start..old.len() - end], &new[start..new.len() - end]);
        let before: HashMap<&str, &T> = old.iter().map(|r| (id(r), &**r)).collect();
        let after: HashMap<&str, &T> = new.iter().map(|r| (id(r), &**r)).collect();
        Diff {
            removed: old
                .iter()
                .filter(|r| !after.contains_key(id(r)))
                .map(|r| &**r)
                .collect(),
            written: new
                .iter()
                .map(|r| (before.get(id(r)).copied(), &**r))
                .filter(|(old, new)| *old != Some(*new))
                .collect(),
        }
    }
}

impl<T> FromIterator<T> for Records<T> {
    fn from_iter<I: IntoIterator<Item = T>>(records: I) -> Self {
        Records(records.into_iter().map(Arc::new).collect())
    }
}

impl<T: Clone> Index<usize> for Records<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.0[i]
    }
}

impl<T: Clone> IndexMut<usize> for Records<T> {
    /// The record at `i`, copied first when another list shares it.
    fn index_mut(&mut self, i: usize) -> &mut T {
        Arc::make_mut(&mut self.0[i])
    }
}

impl<'a, T: Clone> IntoIterator for &'a Records<T> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Clone> IntoIterator for Records<T> {
    type Item = T;
    type IntoIter = std::iter::Map<std::vec::IntoIter<Arc<T>>, fn(Arc<T>) -> T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter().map(Arc::unwrap_or_clone)
    }
}

impl<T: PartialEq> PartialEq for Records<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
    }
}

impl<T: Serialize> Serialize for Records<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|record| &**record))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Records<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<T>::deserialize(deserializer)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, PartialEq, Debug)]
    struct R(&'static str, u32);

    fn ids(records: &[&R]) -> Vec<&'static str> {
        records.iter().map(|r| r.0).collect()
    }

    #[test]
    fn diff_finds_creates_changes_and_deletes_anywhere() {
        let mut old = Records::default();
        for id in ["a", "b", "c", "d", "e"] {
            old.push(R(id, 0));
        }
        let mut new = old.clone();
        assert!(old.diff(&new, |r| r.0).written.is_empty());
        new.remove(1); // b
        new[2].1 = 7; // d
        new.push(R("f", 0));
        assert_eq!(old[3], R("d", 0), "the old list's copy is untouched");
        let diff = old.diff(&new, |r| r.0);
        assert_eq!(ids(&diff.removed), vec!["b"]);
        let written: Vec<_> = diff
            .written
            .iter()
            .map(|(o, n)| (o.map(|o| o.1), n.0))
            .collect();
        assert_eq!(written, vec![(Some(0), "d"), (None, "f")]);
        // A record replaced by an equal one is no change.
        let mut same = old.clone();
        same[0] = R("a", 0);
        assert!(old.diff(&same, |r| r.0).written.is_empty());
        assert!(old == same);
    }
}
