//! The process's signals: SIGTERM and SIGINT start a graceful stop ([`GracefulStop::run`]);
//! a second one during the drain window cuts the window short.
//!
//! And what the stop waits for after the listener closed: an actor's queue to empty
//! ([`emptied`]).

use std::time::{Duration, Instant};

use actix::{Actor, Addr, Handler};
use switchboard_actors::GetLifecycle;
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::startup::GracefulStop;

/// How often [`emptied`] asks an actor for its queue.
pub const QUEUE_POLL: Duration = Duration::from_millis(20);

/// Listens for SIGTERM and SIGINT (installed now, so a signal that arrives before the
/// returned future is polled is not lost) and answers the future that runs `stop` on the
/// first of them; the process ends once the server it stops is done.
///
/// Errors: a signal handler cannot be installed.
pub fn on_signals(
    stop: GracefulStop,
) -> std::io::Result<impl std::future::Future<Output = ()> + 'static> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = next(&mut term, &mut int).await;
        log::info!("component=shutdown event=signal signal={name}");
        stop.run(async move {
            let name = next(&mut term, &mut int).await;
            log::info!("component=shutdown event=signal signal={name} again=true");
        })
        .await;
    })
}

/// The next of SIGTERM and SIGINT, by name.
async fn next(term: &mut Signal, int: &mut Signal) -> &'static str {
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// Waits at most `within` for the queue `addr` reports in its supervision line
/// ([`GetLifecycle`]) to be empty; answers what is left (0: emptied; the last figure seen
/// when the actor stopped answering).
pub async fn emptied<A>(addr: &Addr<A>, within: Duration) -> usize
where
    A: Actor<Context = actix::Context<A>> + Handler<GetLifecycle>,
{
    let deadline = Instant::now() + within;
    let mut left = 0;
    loop {
        match tokio::time::timeout(QUEUE_POLL * 5, addr.send(GetLifecycle)).await {
            Ok(Ok(report)) => {
                left = report.queue.unwrap_or(0);
                if left == 0 {
                    return 0;
                }
            }
            Ok(Err(_)) => return left,
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(QUEUE_POLL).await;
    }
}
