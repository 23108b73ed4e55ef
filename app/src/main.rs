use std::net::SocketAddr;

use ml_api::{AppState, Config, router};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    // `ml-api healthcheck`: the container health check, for images without curl.
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        std::process::exit(if healthy(config.port).await { 0 } else { 1 });
    }
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .init();
    let state = AppState::new(config.clone());
    let addr = SocketAddr::from(([0, 0, 0, 0], config.port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, service = config.service_name, "listening");

    // Serve /healthz (503) while the model loads.
    let loading = state.clone();
    tokio::task::spawn_blocking(move || match loading.load_model() {
        Ok(m) => tracing::info!(path = %m.path.display(), sha256 = m.sha256, "model loaded"),
        Err(e) => tracing::error!(error = %e, "model failed to load; /healthz stays 503"),
    });

    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM (ECS stopping the task) or Ctrl-C: stop accepting, finish in-flight requests.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// GET /healthz on this container's port; true on 200.
async fn healthy(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream
            .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.ends_with(b" 200"))
    };
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(3), check).await,
        Ok(Some(true))
    )
}
