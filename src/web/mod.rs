//! The add-on's web page: served on the daemon's runtime, inside the add-on to the
//! Supervisor's ingress proxy alone, outside it on `web_port`.
//!
//! Three routes, all relative to wherever the page is opened (under the ingress prefix or
//! not): `GET /` the page, `GET /panel` the part that refreshes itself, `POST /check` the test
//! button. Everything is read-only but the test, which is rate-limited. Each request has a
//! timeout and a bounded body.

mod charts;
mod drawn;
mod listener;
mod page;
mod state;
mod words;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use listener::PeerFilter;
use page::{Context, Link, PageData};
pub use state::{IDLE_RELEASE, WebState};

use crate::calendar::paris_date;
use crate::config::WebSettings;

/// A request that takes longer is answered 408: a check waits up to 15 s for the broker and
/// as long for the gateway.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);
/// No route takes a body.
const MAX_BODY_BYTES: usize = 1024;
/// Between two runs of the test button: each calls the gateway, and counts against its quota.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// The routes, with their limits.
pub fn router(state: WebState) -> Router {
    let routes = Router::new()
        .route("/", get(document))
        .route("/panel", get(panel))
        .route("/check", post(run_check))
        .with_state(state);
    with_limits(routes)
}

/// A bounded body and a timeout.
fn with_limits(routes: Router) -> Router {
    routes
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}

/// Listens on `address`, answering only `only_from` when given.
pub async fn bind(address: SocketAddr, only_from: Option<IpAddr>) -> std::io::Result<PeerFilter> {
    Ok(PeerFilter::new(
        TcpListener::bind(address).await?,
        only_from,
    ))
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: PeerFilter,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The page's server, in a task of its own: it never holds up syncing or publishing.
pub struct Server {
    pub state: WebState,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Starts the page where `settings` say; `None` when they say nothing or when it cannot
    /// listen (said in the log: the daemon goes on without its page).
    pub async fn start(settings: &WebSettings, state: WebState) -> Option<Self> {
        let address = settings.listen?;
        let listener = match bind(address, settings.only_from).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!("web page: cannot listen on {address}: {error}");
                return None;
            }
        };
        tracing::info!("web page on {address}");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let serving = serve(listener, router(state.clone()), shutdown);
        let releasing = state.clone().release_when_idle();
        let task = tokio::spawn(async move {
            tokio::select! {
                served = serving => served,
                () = releasing => Ok(()),
            }
        });
        Some(Self { state, stop, task })
    }

    /// Stops listening and lets the requests in flight finish, for a moment at most.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(2), self.task).await {
            Ok(Ok(Err(error))) => tracing::warn!("web page: {error}"),
            Ok(_) => {}
            Err(_) => tracing::debug!("web page: requests still running at exit"),
        }
    }
}

/// The ingress prefix the Supervisor's proxy announces, when it is a plain path.
fn ingress_path(headers: &HeaderMap) -> Option<&str> {
    let path = headers.get("x-ingress-path")?.to_str().ok()?;
    // A path of this origin: not `//host/…`, which a browser reads as another site.
    let plain = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 256
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b));
    plain.then(|| path.trim_end_matches('/'))
}

/// Reads the store and draws with `draw`; a store error is a 500 with its one line.
async fn render(
    state: &WebState,
    draw: impl FnOnce(&Context, &PageData) -> maud::Markup,
) -> Response {
    let inner = &state.inner;
    let now = inner.clock.now();
    *state.last_request() = Some(now);
    let loaded = async {
        let histories = state.histories(paris_date(now)).await?;
        PageData::load(&inner.store, &inner.settings, now, histories).await
    };
    let data = match loaded.await {
        Ok(data) => data,
        Err(error) => {
            tracing::warn!("web page: {error}");
            return (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response();
        }
    };
    let status = inner
        .mqtt
        .get()
        .map(|(broker, link)| (broker, link.borrow().clone()));
    let context = Context {
        settings: &inner.settings,
        link: status
            .as_ref()
            .map(|(broker, status)| Link { broker, status }),
        now,
    };
    let markup = draw(&context, &data);
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(markup.into_string()),
    )
        .into_response()
}

async fn document(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let base = ingress_path(&headers).map(str::to_owned);
    render(&state, |context, data| {
        page::document(context, data, base.as_deref())
    })
    .await
}

async fn panel(State(state): State<WebState>) -> Response {
    render(&state, page::panel).await
}

/// Runs `check` now, unless it ran less than [`CHECK_INTERVAL`] ago or is running.
async fn run_check(State(state): State<WebState>) -> Response {
    let inner = &state.inner;
    let language = inner.settings.language;
    let Ok(mut last) = inner.last_check.try_lock() else {
        let wait = CHECK_INTERVAL.as_secs();
        return refused(page::check_refused(language, wait));
    };
    if let Some(at) = *last {
        let since = at.elapsed();
        if since < CHECK_INTERVAL {
            let wait = (CHECK_INTERVAL - since).as_secs().max(1);
            return refused(page::check_refused(language, wait));
        }
    }
    let lines = crate::check::run(&inner.settings).await;
    *last = Some(Instant::now());
    Html(page::check_lines(&lines).into_string()).into_response()
}

fn refused(markup: maud::Markup) -> Response {
    (StatusCode::TOO_MANY_REQUESTS, Html(markup.into_string())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_page_left_for_a_minute_gives_its_drawn_history_back() {
        use crate::clock::ManualClock;
        use crate::store::Store;
        use chrono::TimeDelta;
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let sources = crate::config::Sources {
            options_path: None,
            data_dir: Some(dir.path().into()),
            env: Vec::new(),
            demo: true,
        };
        let settings = crate::config::load(&sources).unwrap().settings;
        let store = Store::open(dir.path()).await.unwrap();
        let opened = "2024-03-15T10:00:00Z".parse().unwrap();
        let clock = ManualClock::new(opened);
        let state = WebState::new(settings, store, Arc::new(clock.clone()));
        let drawn = || async { state.inner.drawn.lock().await.is_some() };
        assert_eq!(render(&state, page::panel).await.status(), StatusCode::OK);
        assert!(drawn().await);
        clock.set(opened + TimeDelta::seconds(59));
        assert!(
            !state.release_if_idle().await,
            "a page open a minute ago is kept"
        );
        assert!(drawn().await);
        clock.set(opened + IDLE_RELEASE);
        assert!(state.release_if_idle().await);
        assert!(!drawn().await);
        assert!(!state.release_if_idle().await, "released once");
    }

    #[test]
    fn only_a_plain_ingress_path_becomes_the_base() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-ingress-path", value.parse().unwrap());
            ingress_path(&headers).map(str::to_owned)
        };
        assert_eq!(
            with("/api/hassio_ingress/AbC-12_x").as_deref(),
            Some("/api/hassio_ingress/AbC-12_x")
        );
        assert_eq!(
            with("/api/hassio_ingress/t/").as_deref(),
            Some("/api/hassio_ingress/t")
        );
        assert_eq!(with("\"><script>"), None);
        assert_eq!(with("//evil.example/x"), None);
        assert_eq!(with("https://evil.example/"), None);
        assert_eq!(ingress_path(&HeaderMap::new()), None);
    }
}
