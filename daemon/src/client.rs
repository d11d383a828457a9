//! The CLI's side of the API: HTTP/1.1 over the unix socket or (mutual-TLS) TCP, one
//! connection per request, JSON bodies, NDJSON streams and upgraded command streams.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::api::{ErrorBody, Ping, StreamLine};
use crate::command::UPGRADE_PROTOCOL;
use crate::host::Host;
use crate::tls::{TlsError, TlsFiles};

pub type RequestBody = BoxBody<Bytes, std::io::Error>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the kiln daemon at {host}: {source} (is `kiln daemon` running? unset KILN_HOST / --host to work in-process)")]
    Connect {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to the kiln daemon at {host}: {source}")]
    Http {
        host: String,
        #[source]
        source: hyper::Error,
    },
    #[error("{}", .body.message)]
    Api { status: StatusCode, body: ErrorBody },
    #[error("the daemon's answer to {what} is not what this client understands: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("reading the daemon's stream: {0}")]
    Stream(#[source] std::io::Error),
    #[error("the daemon did not switch to the command stream (status {0})")]
    NoUpgrade(StatusCode),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A daemon connection factory.
#[derive(Clone)]
pub struct Client {
    host: Host,
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// NDJSON lines of a build stream.
pub struct LineStream {
    reader: Pin<Box<dyn AsyncBufRead + Send>>,
    buf: String,
}

impl LineStream {
    /// The next line, or `None` when the daemon ended the stream.
    pub async fn next(&mut self) -> Result<Option<StreamLine>, ClientError> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_line(&mut self.buf)
                .await
                .map_err(ClientError::Stream)?;
            if n == 0 {
                return Ok(None);
            }
            let line = self.buf.trim();
            if line.is_empty() {
                continue;
            }
            return serde_json::from_str(line)
                .map(Some)
                .map_err(|source| ClientError::Decode {
                    what: "a build stream line".into(),
                    source,
                });
        }
    }
}

/// A JSON request body.
pub fn json_body(v: &impl Serialize) -> RequestBody {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed()
}

fn empty_body() -> RequestBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

impl Client {
    pub fn new(host: Host, tls: Option<&TlsFiles>) -> Result<Client, ClientError> {
        let tls = tls.map(TlsFiles::client_config).transpose()?;
        Ok(Client { host, tls })
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        upgrade: bool,
    ) -> Result<Response<Incoming>, ClientError> {
        let host = self.host.to_string();
        let io = crate::listen::connect(&self.host, self.tls.as_ref())
            .await
            .map_err(|source| ClientError::Connect {
                host: host.clone(),
                source,
            })?;
        let http = |source| ClientError::Http {
            host: host.clone(),
            source,
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!("daemon connection: {e}");
            }
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "kiln");
        if upgrade {
            req = req
                .header(hyper::header::CONNECTION, "Upgrade")
                .header(hyper::header::UPGRADE, UPGRADE_PROTOCOL);
        } else {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        // The builder only fails on invalid header values, and ours are constants.
        let req = req.body(body).map_err(|e| ClientError::Api {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody::new(format!("building the request: {e}")),
        })?;
        sender.send_request(req).await.map_err(http)
    }

    /// Sends a request and reads the whole body of its successful answer.
    async fn body_of(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
    ) -> Result<Bytes, ClientError> {
        let resp = self.send(method, path, body, false).await?;
        let resp = self.check(resp).await?;
        Ok(resp
            .into_body()
            .collect()
            .await
            .map_err(|source| ClientError::Http {
                host: self.host.to_string(),
                source,
            })?
            .to_bytes())
    }

    async fn check(&self, resp: Response<Incoming>) -> Result<Response<Incoming>, ClientError> {
        if resp.status().is_success() || resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            return Ok(resp);
        }
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            ErrorBody::new(format!(
                "the daemon answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            ))
        });
        Err(ClientError::Api { status, body })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
    ) -> Result<T, ClientError> {
        let bytes = self.body_of(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode {
            what: path.to_string(),
            source,
        })
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(Method::GET, path, empty_body()).await
    }

    pub async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.json(Method::POST, path, json_body(body)).await
    }

    /// `GET` a text resource (the metrics).
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let bytes = self.body_of(Method::GET, path, empty_body()).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn ping(&self) -> Result<Ping, ClientError> {
        self.get_json("/v1/_ping").await
    }

    /// `POST` a streamed body and read the NDJSON answer line by line.
    pub async fn post_stream(
        &self,
        path: &str,
        body: RequestBody,
    ) -> Result<LineStream, ClientError> {
        let resp = self.send(Method::POST, path, body, false).await?;
        let resp = self.check(resp).await?;
        let stream = resp
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other);
        let reader = tokio_util::io::StreamReader::new(stream);
        Ok(LineStream {
            reader: Box::pin(tokio::io::BufReader::new(reader)),
            buf: String::new(),
        })
    }

    /// `GET` a byte stream (a build output).
    pub async fn get_reader(
        &self,
        path: &str,
    ) -> Result<Pin<Box<dyn tokio::io::AsyncRead + Send>>, ClientError> {
        let resp = self.send(Method::GET, path, empty_body(), false).await?;
        let resp = self.check(resp).await?;
        let stream = resp
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other);
        Ok(Box::pin(tokio_util::io::StreamReader::new(stream)))
    }

    /// Open a command session (`POST /v1/commands`, upgraded); speak `frames` on it.
    pub async fn command_stream(&self) -> Result<TokioIo<hyper::upgrade::Upgraded>, ClientError> {
        let resp = self
            .send(Method::POST, "/v1/commands", empty_body(), true)
            .await?;
        let resp = self.check(resp).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientError::NoUpgrade(resp.status()));
        }
        let up = hyper::upgrade::on(resp)
            .await
            .map_err(|source| ClientError::Http {
                host: self.host.to_string(),
                source,
            })?;
        Ok(TokioIo::new(up))
    }
}
