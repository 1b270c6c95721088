//! The process's signals: SIGTERM and SIGINT start a graceful stop ([`GracefulStop::run`]);
//! a second one during the drain window cuts the window short. SIGHUP reloads the routing
//! rules ([`RulesReload`]); once a stop began it is ignored (and never ends the process).
//!
//! And what the stop waits for after the listener closed: an actor's queue to empty
//! ([`emptied`]).

use std::time::{Duration, Instant};

use actix::{Actor, Addr, Handler};
use actix_web::dev::ServerHandle;
use switchboard_actors::{Drain, GetLifecycle};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::reload::RulesReload;

/// How often [`emptied`] asks an actor for its queue.
pub const QUEUE_POLL: Duration = Duration::from_millis(20);

/// Listens for SIGTERM, SIGINT and SIGHUP (installed now, so a signal that arrives before
/// the returned future is polled is not lost) and answers the future that reloads the rules
/// with `reload` on each SIGHUP, and runs `stop` on the first SIGTERM or SIGINT; the process
/// ends once the server it stops is done.
///
/// Errors: a signal handler cannot be installed.
pub fn on_signals(
    stop: GracefulStop,
    reload: RulesReload,
) -> std::io::Result<impl std::future::Future<Output = ()> + 'static> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(async move {
        let name = loop {
            tokio::select! {
                name = next(&mut term, &mut int) => break name,
                _ = hup.recv() => {
                    log::info!("component=rules event=signal signal=SIGHUP");
                    reload.run_logged().await;
                }
            }
        };
        log::info!("component=shutdown event=signal signal={name}");
        stop.run(async move {
            let name = next(&mut term, &mut int).await;
            log::info!("component=shutdown event=signal signal={name} again=true");
        })
        .await;
        // Still caught, so a SIGHUP while the service finishes does not end it.
        while hup.recv().await.is_some() {
            log::info!(
                "component=rules event=signal signal=SIGHUP ignored=\"the service is stopping\""
            );
        }
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

/// A graceful stop of one service (see [`Drain`] for the sequence).
#[derive(Clone)]
pub struct GracefulStop {
    drain: Drain,
    server: ServerHandle,
    window: Duration,
}

impl GracefulStop {
    /// The stop of the server `server` whose routes share `drain`, serving on for `window`
    /// (`server.shutdown_timeout_secs`) once it began.
    pub fn new(drain: Drain, server: ServerHandle, window: Duration) -> Self {
        GracefulStop {
            drain,
            server,
            window,
        }
    }

    /// Drains: readiness answers 503 at once, and the service keeps serving, with
    /// `Connection: close`, until `server.shutdown_timeout_secs` passed or `cut_short`
    /// resolved; then export streams close with 1001 and the listener closes, requests in
    /// flight being answered. Returns once the HTTP server stopped;
    /// [`Application::run_until_stopped`](crate::startup::Application::run_until_stopped)
    /// does the rest.
    pub async fn run(self, cut_short: impl std::future::Future<Output = ()>) {
        self.drain.start();
        log::info!(
            "component=shutdown event=draining window_secs={}",
            self.window.as_secs()
        );
        tokio::select! {
            () = tokio::time::sleep(self.window) => {}
            () = cut_short => log::info!("component=shutdown event=window_cut_short"),
        }
        log::info!("component=shutdown event=closing_listener");
        self.drain.close_streams();
        self.server.stop(true).await;
    }
}
