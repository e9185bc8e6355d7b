//! The accept loop every listener shares: a cap on open connections, and connection
//! tasks owned by the loop so that aborting the loop (shutdown) ends them too.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, warn};

/// Open connections per listener. Further clients wait in the kernel's backlog.
pub(crate) const MAX_CONNECTIONS: usize = 64;

pub(crate) async fn accept_loop<F, Fut>(listener: TcpListener, service: &'static str, handle: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                debug!(service, %peer, "connection accepted");
                let _ = stream.set_nodelay(true);
                let connection = handle(stream, peer);
                connections.spawn(async move {
                    connection.await;
                    drop(slot);
                });
            }
            Err(error) => {
                // Typically EMFILE: back off instead of spinning on the error.
                warn!(service, %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
