//! A small HTTP/1.1 proxy for tests and benchmarks: it sits between the AWS
//! SDK and the emulator, adds latency to every request, and answers some
//! requests itself with throttling errors or 503s (before they reach the
//! emulator, as a throttled or overloaded AWS endpoint does).
//!
//! Only loopback traffic: it listens on 127.0.0.1 and forwards to one
//! loopback backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Added before each request is forwarded.
    pub latency: Duration,
    /// Answer every Nth request with a throttling error (0: never).
    pub throttle_every: u64,
    /// Answer every Nth request with 503 Service Unavailable (0: never).
    pub unavailable_every: u64,
}

#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub unavailable: AtomicU64,
}

pub struct FaultProxy {
    pub endpoint: String,
    pub counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Start a proxy to `backend` (`127.0.0.1:PORT`) on the current runtime.
    pub async fn start(backend: String, faults: Faults) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (backend, c) = (backend.clone(), c.clone());
                tokio::spawn(async move {
                    let _ = serve(client, &backend, faults, &c).await;
                });
            }
        });
        Ok(FaultProxy {
            endpoint,
            counters,
            task,
        })
    }
}

/// One HTTP message: head lines and body.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

async fn read_message<R: tokio::io::AsyncRead + Unpin>(reader: &mut BufReader<R>) -> std::io::Result<Option<Message>> {
    let mut head = Vec::new();
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
        if let Some(v) = text.strip_prefix("content-length:") {
            content_length = v.trim().parse().ok();
        }
        if text.starts_with("transfer-encoding:") && text.contains("chunked") {
            chunked = true;
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let mut body = Vec::new();
    if chunked {
        // Keep the chunked framing as is; read until the last chunk.
        loop {
            let mut size_line = Vec::new();
            reader.read_until(b'\n', &mut size_line).await?;
            body.extend_from_slice(&size_line);
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&size_line)
                    .trim()
                    .split(';')
                    .next()
                    .unwrap_or("0"),
                16,
            )
            .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await?;
            body.extend_from_slice(&chunk);
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = content_length {
        body.resize(length, 0);
        reader.read_exact(&mut body).await?;
    } else if !head.starts_with(b"GET")
        && !head.starts_with(b"POST")
        && !head.starts_with(b"PUT")
        && !head.starts_with(b"DELETE")
    {
        // A response without a length ends when the server closes.
        reader.read_to_end(&mut body).await?;
    }
    Ok(Some(Message { head, body }))
}

/// A throttling error in the protocol of the request.
fn throttling(request: &Message) -> Vec<u8> {
    let head = String::from_utf8_lossy(&request.head).to_ascii_lowercase();
    let body_text = String::from_utf8_lossy(&request.body);
    let (content_type, body) = if head.contains("x-amz-json") {
        (
            "application/x-amz-json-1.1",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded (injected)"}"#.to_string(),
        )
    } else if body_text.contains("Version=2016-11-15") {
        // EC2's query protocol has its own error shape.
        (
            "text/xml",
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded (injected)</Message></Error></Errors><RequestID>injected</RequestID></Response>".to_string(),
        )
    } else {
        (
            "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded (injected)</Message></Error><RequestId>injected</RequestId></ErrorResponse>".to_string(),
        )
    };
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: {content_type}\r\nx-amzn-RequestId: injected\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve(client: TcpStream, backend: &str, faults: Faults, c: &Counters) -> std::io::Result<()> {
    let (client_read, mut client_write) = client.into_split();
    let mut client_read = BufReader::new(client_read);
    while let Some(request) = read_message(&mut client_read).await? {
        let n = c.requests.fetch_add(1, Ordering::SeqCst) + 1;
        if !faults.latency.is_zero() {
            tokio::time::sleep(faults.latency).await;
        }
        if faults.throttle_every > 0 && n % faults.throttle_every == 0 {
            c.throttled.fetch_add(1, Ordering::SeqCst);
            client_write.write_all(&throttling(&request)).await?;
            continue;
        }
        if faults.unavailable_every > 0 && n % faults.unavailable_every == 0 {
            c.unavailable.fetch_add(1, Ordering::SeqCst);
            client_write
                .write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nx-amzn-RequestId: injected\r\n\r\n",
                )
                .await?;
            continue;
        }
        // One upstream connection per request: the emulator may close after
        // each response.
        let (up_read, mut up_write) = TcpStream::connect(backend).await?.into_split();
        let mut up_read = BufReader::new(up_read);
        up_write.write_all(&request.head).await?;
        up_write.write_all(&request.body).await?;
        let Some(response) = read_message(&mut up_read).await? else {
            return Ok(());
        };
        // Tell the client the length we actually forward.
        let head = String::from_utf8_lossy(&response.head);
        let mut fixed = String::new();
        for line in head.split_inclusive('\n') {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-length:")
                || lower.starts_with("connection:")
                || lower.starts_with("transfer-encoding:")
            {
                continue;
            }
            if line == "\r\n" || line == "\n" {
                fixed.push_str(&format!("Content-Length: {}\r\n\r\n", decoded_len(&response)));
                break;
            }
            fixed.push_str(line);
        }
        client_write.write_all(fixed.as_bytes()).await?;
        client_write.write_all(&dechunk(&response)).await?;
    }
    Ok(())
}

fn is_chunked(m: &Message) -> bool {
    String::from_utf8_lossy(&m.head)
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
}

/// The body without chunked framing.
fn dechunk(m: &Message) -> Vec<u8> {
    if !is_chunked(m) {
        return m.body.clone();
    }
    let mut out = Vec::new();
    let mut rest = &m.body[..];
    while let Some(pos) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&rest[..pos])
                .trim()
                .split(';')
                .next()
                .unwrap_or("0"),
            16,
        )
        .unwrap_or(0);
        rest = &rest[pos + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[(size + 2).min(rest.len())..];
    }
    out
}

fn decoded_len(m: &Message) -> usize {
    dechunk(m).len()
}
