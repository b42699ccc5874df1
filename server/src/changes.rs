//! What changed in Postgres, as this replica hears it. Triggers `NOTIFY` when a transaction that
//! changed a migration, a session, a user or a change lock commits (`migrations/`), so a change
//! made through any replica reaches every other within milliseconds.
//!
//! Two uses: the pages' live updates (each changed migration's flag, fanned out to every open
//! page), and what a replica keeps between requests. A value read from the database stays
//! current while its topic has heard nothing since: take a [`Mark`] before reading, and keep the
//! value only while [`Changes::unchanged_since`] says so. While the listener is down (and until
//! it listens again) nothing is taken as current, and every read goes to the database.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::broadcast;

/// What a notification is about, by the channel it came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::EnumIter, strum::EnumCount)]
pub enum Topic {
    /// A migration, or a flag change of one; the payload is its flag.
    Migrations,
    /// A session or a user.
    Identity,
    /// A change lock declared or lifted.
    ChangeLocks,
}

impl Topic {
    fn channel(self) -> &'static str {
        match self {
            Topic::Migrations => "rampart_migration_changes",
            Topic::Identity => "rampart_identity_changes",
            Topic::ChangeLocks => "rampart_change_lock_changes",
        }
    }

    fn of_channel(channel: &str) -> Option<Topic> {
        <Topic as strum::IntoEnumIterator>::iter().find(|topic| topic.channel() == channel)
    }
}

/// How many notifications of a topic had been heard when a read began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark(u64);

#[derive(Clone)]
pub struct Changes {
    /// Changed migrations' flags, to every open page; `*` when what changed is unknown.
    sender: broadcast::Sender<String>,
    heard: Arc<Heard>,
}

#[derive(Default)]
struct Heard {
    listening: AtomicBool,
    /// Per topic, by its place in [`Topic`].
    counts: [AtomicU64; <Topic as strum::EnumCount>::COUNT],
}

impl Heard {
    fn count(&self, topic: Topic) -> &AtomicU64 {
        &self.counts[topic as usize]
    }

    /// Whatever was read before may have changed unheard: no mark taken so far holds.
    fn forget_everything(&self) {
        for topic in <Topic as strum::IntoEnumIterator>::iter() {
            self.count(topic).fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Changes {
    pub fn new() -> Changes {
        Changes {
            sender: broadcast::channel(1024).0,
            heard: Arc::default(),
        }
    }

    /// A mark to read `topic` under; `None` when no read stays current: while not listening, and
    /// for a request that may write ([`read_your_writes`]).
    pub fn mark(&self, topic: Topic) -> Option<Mark> {
        let current =
            self.heard.listening.load(Ordering::SeqCst) && READING_AFRESH.try_with(|_| ()).is_err();
        current.then(|| Mark(self.heard.count(topic).load(Ordering::SeqCst)))
    }

    /// Whether nothing of `topic` has changed since `mark` was taken.
    pub fn unchanged_since(&self, topic: Topic, mark: Option<Mark>) -> bool {
        mark.is_some_and(|mark| self.mark(topic) == Some(mark))
    }

    /// This replica has just written, and does not wait to hear of it from Postgres: what it
    /// keeps is read again, so that a person's next page shows what they did.
    pub fn wrote_here(&self) {
        self.heard.forget_everything();
    }

    /// Every changed migration's flag, as it is heard.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.sender.subscribe()
    }

    /// Listens to Postgres for as long as the process runs, connecting again after a drop.
    /// What changed meanwhile is unknown: every open page is told to read everything again
    /// (`*`), and nothing kept is current any more. Nobody listening is fine: no page is open.
    pub async fn listen(self, pool: PgPool) {
        loop {
            let mut listener = match Self::connect(&pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "could not listen for changes");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            self.heard.forget_everything();
            self.heard.listening.store(true, Ordering::SeqCst);
            let _ = self.sender.send("*".to_owned());
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => self.heard_of(
                        Topic::of_channel(notification.channel()),
                        notification.payload(),
                    ),
                    // The connection dropped. A new listener, rather than this one reconnecting
                    // by itself: only a LISTEN known to be in place makes reads current again.
                    Ok(None) => {
                        tracing::warn!("lost the changes' listener; listening again");
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "could not listen for changes");
                        break;
                    }
                }
            }
            self.heard.listening.store(false, Ordering::SeqCst);
            self.heard_of(None, "*");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// `topic` changed (`None`: anything may have); `payload` names the migration, if one.
    fn heard_of(&self, topic: Option<Topic>, payload: &str) {
        match topic {
            Some(topic) => {
                self.heard.count(topic).fetch_add(1, Ordering::SeqCst);
            }
            None => self.heard.forget_everything(),
        }
        if matches!(topic, Some(Topic::Migrations) | None) {
            let _ = self.sender.send(payload.to_owned());
        }
    }

    async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        let channels: Vec<&str> = <Topic as strum::IntoEnumIterator>::iter()
            .map(Topic::channel)
            .collect();
        listener.listen_all(channels).await?;
        Ok(listener)
    }
}

tokio::task_local! {
    /// Set while a request that may write is handled.
    static READING_AFRESH: ();
}

/// Middleware for requests that may write (any but GET, HEAD and OPTIONS): they read everything
/// from the database, kept values or not, so that what decides a change — who is asking, what
/// the migration's state is — is never a moment old; and afterwards this replica reads afresh
/// what it keeps ([`Changes::wrote_here`]). Pages and reads use what is kept.
pub async fn read_your_writes(
    State(changes): State<Changes>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let response = READING_AFRESH.scope((), next.run(request)).await;
    changes.wrote_here();
    response
}

impl Default for Changes {
    fn default() -> Self {
        Changes::new()
    }
}

/// Values read from the database, kept while their topic hears nothing. Any change of the topic
/// ends them all: the notifications say that something changed, not what.
pub struct Kept<K, V> {
    topic: Topic,
    changes: Changes,
    /// At most this many; a full map is emptied.
    bound: usize,
    /// The values and the mark they were all read under.
    values: Mutex<(Option<Mark>, HashMap<K, V>)>,
}

impl<K: Eq + Hash, V: Clone> Kept<K, V> {
    pub fn new(topic: Topic, changes: Changes, bound: usize) -> Self {
        Self {
            topic,
            changes,
            bound,
            values: Mutex::new((None, HashMap::new())),
        }
    }

    /// The value for `key`: as kept, if still current; else as `read` gives it now, kept if
    /// there is one.
    pub async fn get_or_read<E>(
        &self,
        key: K,
        read: impl Future<Output = Result<Option<V>, E>>,
    ) -> Result<Option<V>, E> {
        if let Some(value) = self.get(&key) {
            return Ok(Some(value));
        }
        // Taken before reading: a change that lands during the read ends what it gives.
        let mark = self.changes.mark(self.topic);
        let value = read.await?;
        if let Some(value) = &value {
            self.keep(key, value.clone(), mark);
        }
        Ok(value)
    }

    /// The value kept for `key`, if it is still current.
    fn get(&self, key: &K) -> Option<V> {
        let now = self.changes.mark(self.topic)?;
        let mut values = self.values();
        if values.0 != Some(now) {
            *values = (Some(now), HashMap::new());
            return None;
        }
        values.1.get(key).cloned()
    }

    /// Keeps `value`, read after `mark` was taken, unless something changed since.
    fn keep(&self, key: K, value: V, mark: Option<Mark>) {
        if !self.changes.unchanged_since(self.topic, mark) {
            return;
        }
        let mut values = self.values();
        if values.0 != mark {
            *values = (mark, HashMap::new());
        }
        if values.1.len() >= self.bound {
            values.1.clear();
        }
        values.1.insert(key, value);
    }

    /// Drops what is kept for `key`: this replica is changing it.
    pub fn forget(&self, key: &K) {
        self.values().1.remove(key);
    }

    fn values(&self) -> std::sync::MutexGuard<'_, (Option<Mark>, HashMap<K, V>)> {
        // A panic while holding it left nothing half-written: values are replaced whole.
        self.values
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark_of<K: Eq + Hash, V: Clone>(kept: &Kept<K, V>) -> Option<Mark> {
        kept.changes.mark(kept.topic)
    }

    fn listening() -> Changes {
        let changes = Changes::new();
        changes.heard.listening.store(true, Ordering::SeqCst);
        changes
    }

    #[test]
    fn a_read_stays_current_until_its_topic_is_heard_of() {
        let changes = listening();
        let migrations = changes.mark(Topic::Migrations);
        let identity = changes.mark(Topic::Identity);
        changes.heard_of(Some(Topic::Identity), "");
        assert!(changes.unchanged_since(Topic::Migrations, migrations));
        assert!(!changes.unchanged_since(Topic::Identity, identity));
        changes.heard_of(Some(Topic::Migrations), "gitaly_find_commit");
        assert!(!changes.unchanged_since(Topic::Migrations, migrations));
    }

    #[test]
    fn nothing_is_current_while_not_listening_nor_after_losing_the_listener() {
        let changes = Changes::new();
        assert_eq!(changes.mark(Topic::Migrations), None);
        assert!(!changes.unchanged_since(Topic::Migrations, None));

        let changes = listening();
        let mark = changes.mark(Topic::Identity);
        changes.heard_of(None, "*");
        assert!(!changes.unchanged_since(Topic::Identity, mark));
        let mark = changes.mark(Topic::Identity);
        changes.heard.listening.store(false, Ordering::SeqCst);
        assert!(!changes.unchanged_since(Topic::Identity, mark));
    }

    #[test]
    fn kept_values_serve_until_their_topic_changes() {
        let changes = listening();
        let kept = Kept::<i64, &str>::new(Topic::Identity, changes.clone(), 2);
        let mark = mark_of(&kept);
        kept.keep(1, "vera", mark);
        assert_eq!(kept.get(&1), Some("vera"));
        changes.heard_of(Some(Topic::Migrations), "gitaly_find_commit");
        assert_eq!(kept.get(&1), Some("vera"), "another topic");
        changes.heard_of(Some(Topic::Identity), "");
        assert_eq!(kept.get(&1), None);

        // Read before a change, kept after it: stale already, so not kept.
        let mark = mark_of(&kept);
        changes.heard_of(Some(Topic::Identity), "");
        kept.keep(1, "vera", mark);
        assert_eq!(kept.get(&1), None);

        let mark = mark_of(&kept);
        kept.keep(1, "vera", mark);
        kept.forget(&1);
        assert_eq!(kept.get(&1), None, "forgotten");
    }

    #[test]
    fn nothing_is_kept_while_not_listening_and_no_more_than_the_bound() {
        let kept = Kept::<i64, &str>::new(Topic::Identity, Changes::new(), 2);
        kept.keep(1, "vera", mark_of(&kept));
        assert_eq!(kept.get(&1), None);

        let kept = Kept::<i64, &str>::new(Topic::Identity, listening(), 2);
        for (id, name) in [(1, "vera"), (2, "erin"), (3, "rhea")] {
            kept.keep(id, name, mark_of(&kept));
        }
        assert_eq!(kept.values().1.len(), 1, "emptied when full");
        assert_eq!(kept.get(&3), Some("rhea"));
    }

    #[tokio::test]
    async fn a_request_that_may_write_reads_afresh() {
        let changes = listening();
        let mark = changes.mark(Topic::Identity);
        assert!(changes.unchanged_since(Topic::Identity, mark));
        let inside = READING_AFRESH
            .scope((), async { changes.unchanged_since(Topic::Identity, mark) })
            .await;
        assert!(!inside);

        // What is kept is not used inside, and still there after.
        let kept = Kept::<i64, &str>::new(Topic::Identity, changes.clone(), 2);
        kept.keep(1, "vera", mark);
        let read_inside = READING_AFRESH
            .scope(
                (),
                kept.get_or_read(1, async { Ok::<_, ()>(Some("vera, read")) }),
            )
            .await;
        assert_eq!(read_inside, Ok(Some("vera, read")));
        let read_outside = kept.get_or_read(1, async { Ok::<_, ()>(None) }).await;
        assert_eq!(read_outside, Ok(Some("vera")));
    }

    #[test]
    fn pages_hear_of_migrations_not_of_sessions_or_locks() {
        let changes = listening();
        let mut heard = changes.subscribe();
        changes.heard_of(Some(Topic::Identity), "");
        changes.heard_of(Some(Topic::ChangeLocks), "");
        changes.heard_of(Some(Topic::Migrations), "gitaly_find_commit");
        assert_eq!(heard.try_recv().unwrap(), "gitaly_find_commit");
        assert!(heard.try_recv().is_err());
    }
}
