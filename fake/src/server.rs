//! The accept loop: one hyper HTTP/1 connection per task, each killable on its own (for the Reset
//! fault) and all stopped when the `FakeServer` is dropped.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// Stops the server when dropped.
pub(crate) struct Running {
    shutdown: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.accept.abort();
    }
}

/// Put in every request's extensions: lets a handler drop its own TCP connection with a reset.
#[derive(Clone, Default)]
pub(crate) struct ConnKill(Arc<KillInner>);

#[derive(Default)]
struct KillInner {
    requested: AtomicBool,
    notify: Notify,
}

impl ConnKill {
    pub fn reset(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        self.0.notify.notify_one();
    }
}

pub(crate) fn spawn(listener: TcpListener, router: Router) -> Running {
    let (shutdown, watcher) = watch::channel(false);
    let accept = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve_connection(stream, router.clone(), watcher.clone()));
        }
    });
    Running { shutdown, accept }
}

async fn serve_connection(stream: TcpStream, router: Router, mut shutdown: watch::Receiver<bool>) {
    let kill = ConnKill::default();
    let io = TokioIo::new(KillableStream {
        stream,
        kill: kill.clone(),
    });
    let request_kill = kill.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(request_kill.clone());
        router.clone().oneshot(request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(io, service);
    // Dropping the connection future drops the socket (and any in-flight handler).
    tokio::select! {
        _ = connection => {}
        _ = kill.0.notify.notified() => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
}

/// A TCP stream that closes with RST instead of FIN when its connection was killed.
struct KillableStream {
    stream: TcpStream,
    kill: ConnKill,
}

impl Drop for KillableStream {
    fn drop(&mut self) {
        if self.kill.0.requested.load(Ordering::SeqCst) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
