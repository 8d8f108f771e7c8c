//! An axum router served on 127.0.0.1:0 from a thread of its own.

use std::net::TcpListener;
use std::thread::JoinHandle;

use axum::Router;
use tokio::sync::oneshot;

pub(crate) struct BackgroundServer {
    port: u16,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundServer {
    pub(crate) fn start(name: &str, router: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("cannot make the listener non-blocking");
        let port = listener.local_addr().expect("no local address").port();
        let (shutdown, stop) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("{name}-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("cannot build the server runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("cannot register the listener");
                    let serve = std::future::IntoFuture::into_future(axum::serve(listener, router));
                    tokio::select! {
                        result = serve => {
                            if let Err(e) = result {
                                eprintln!("fake server {port} stopped: {e}");
                            }
                        }
                        _ = stop => {}
                    }
                });
                // Dropping the runtime here cancels every connection still open (keep-alive
                // pools, requests sleeping in a Delay fault).
            })
            .expect("cannot spawn the server thread");
        Self {
            port,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
