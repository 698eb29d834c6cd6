//! Bounded concurrency for the stages that run many commands (`--concurrency N`).

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;

use futures::stream::{self, FuturesUnordered, StreamExt};

/// The default `--concurrency`: the number of cores (at least 1).
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).max(1)
}

/// Run `f` over `items` with at most `limit` futures in flight; results keep input order.
pub async fn bounded<T, R, F, Fut>(items: impl IntoIterator<Item = T>, limit: usize, f: F) -> Vec<R>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = R>,
{
    stream::iter(items).map(f).buffered(limit.max(1)).collect().await
}

/// Like [`bounded`], for items that share resources: each item comes with keys (the blobs an
/// image push may upload), and an item does not start while another item in flight holds one
/// of its keys. A key is held from the start of the first item that has it to that item's
/// end; after that it is done and holds nobody back (what the first push uploaded, the others
/// mount instead of uploading again). Among the items that may start, the earliest goes
/// first; results keep input order. Never deadlocks: with nothing in flight every key is free.
pub async fn bounded_by_keys<T, K, R, F, Fut>(items: Vec<(T, Vec<K>)>, limit: usize, mut f: F) -> Vec<R>
where
    K: Eq + Hash + Clone,
    F: FnMut(T) -> Fut,
    Fut: Future<Output = R>,
{
    let n = items.len();
    let mut pending: VecDeque<(usize, T, Vec<K>)> = items.into_iter().enumerate().map(|(i, (t, k))| (i, t, k)).collect();
    let mut held: HashSet<K> = HashSet::new();
    let mut done: HashSet<K> = HashSet::new();
    let mut running = FuturesUnordered::new();
    let mut results: Vec<Option<R>> = (0..n).map(|_| None).collect();
    loop {
        while running.len() < limit.max(1) {
            let Some(pos) = pending.iter().position(|(_, _, keys)| !keys.iter().any(|k| held.contains(k))) else { break };
            let (i, item, keys) = pending.remove(pos).expect("position is in range");
            let claimed: Vec<K> = keys.into_iter().filter(|k| !done.contains(k)).collect();
            held.extend(claimed.iter().cloned());
            let fut = f(item);
            running.push(async move { (i, claimed, fut.await) });
        }
        match running.next().await {
            Some((i, claimed, r)) => {
                for k in claimed {
                    held.remove(&k);
                    done.insert(k);
                }
                results[i] = Some(r);
            }
            None => break,
        }
    }
    results.into_iter().map(|r| r.expect("every item ran")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn never_exceeds_the_limit_and_keeps_order() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let out = bounded(0..20u64, 3, |i| {
            let (in_flight, peak) = (in_flight.clone(), peak.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5 * (20 - i))).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                i * 2
            }
        })
        .await;
        assert_eq!(out, (0..20u64).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    /// Items sharing a key never overlap while its first holder runs; disjoint ones do; every
    /// result comes back in input order.
    #[tokio::test]
    async fn items_sharing_a_key_wait_for_its_first_holder() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        // 0 and 1 share "base"; 2 shares "base" too; 3 is alone; 4 shares "x" with 3.
        let items = vec![
            (0, vec!["base", "a"]),
            (1, vec!["base", "b"]),
            (2, vec!["base", "c"]),
            (3, vec!["x"]),
            (4, vec!["x", "d"]),
        ];
        let out = bounded_by_keys(items, 4, |i: u64| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(format!("start {i}"));
                tokio::time::sleep(Duration::from_millis(if i == 0 { 60 } else { 20 })).await;
                log.lock().unwrap().push(format!("end {i}"));
                i * 10
            }
        })
        .await;
        assert_eq!(out, vec![0, 10, 20, 30, 40]);
        let log = log.lock().unwrap().clone();
        let at = |e: &str| log.iter().position(|l| l == e).unwrap_or_else(|| panic!("{e} in {log:?}"));
        // 0 and 3 start at once; 1 and 2 only after 0 ended, then together; 4 after 3.
        assert_eq!(&log[..2], &["start 0".to_string(), "start 3".to_string()], "{log:?}");
        assert!(at("start 1") > at("end 0") && at("start 2") > at("end 0"), "{log:?}");
        assert!(at("start 2") < at("end 1"), "1 and 2 share only a done key: {log:?}");
        assert!(at("start 4") > at("end 3"), "{log:?}");
    }

    #[tokio::test]
    async fn keyed_limit_is_honoured_and_empty_input_is_fine() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let items: Vec<(u64, Vec<u64>)> = (0..12).map(|i| (i, vec![i])).collect();
        let out = bounded_by_keys(items, 3, |i| {
            let (in_flight, peak) = (in_flight.clone(), peak.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                i
            }
        })
        .await;
        assert_eq!(out, (0..12).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        let none: Vec<u8> = bounded_by_keys(Vec::<(u8, Vec<u8>)>::new(), 2, |i| async move { i }).await;
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn zero_limit_means_one() {
        let out = bounded(vec![1, 2], 0, |i| async move { i }).await;
        assert_eq!(out, vec![1, 2]);
        assert!(default_concurrency() >= 1);
    }
}
