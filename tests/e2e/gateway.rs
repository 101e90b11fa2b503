//! The gateway, black-box: the same calls over gRPC, gRPC-web and REST give
//! the same answers; a client of the original REST surface works unchanged;
//! the edge (auth, rate limits, CORS, request ids) behaves; the OpenAPI
//! document validates and survives a fuzzer.

mod edge;
mod files_jobs;
mod openapi;
mod protocols;
mod seed;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost::Message;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tonic::Code;

use crate::support::TestPlatform;

/// The gateway's base URL.
pub fn base(platform: &TestPlatform) -> String {
    platform.platform.gateway_url().expect("the gateway runs")
}

/// A plain HTTP/JSON client of the REST surface.
#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
}

/// One REST answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Rest {
    pub fn new(platform: &TestPlatform) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base(platform),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the gateway answers");
        Answer::read(response).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Answer {
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        Self {
            status,
            headers,
            json,
        }
    }

    /// Asserts a 200 and returns the body.
    pub fn ok(self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{:#}", self.json);
        self.json
    }
}

/// A gRPC-web client framing requests by hand, in the binary or the text
/// (base64) encoding.
#[derive(Clone)]
pub struct GrpcWeb {
    http: reqwest::Client,
    base: String,
    pub text: bool,
}

/// A gRPC-web failure: the status code and message.
#[derive(Debug)]
pub struct WebError {
    pub code: Code,
    pub message: String,
}

impl GrpcWeb {
    pub fn new(platform: &TestPlatform, text: bool) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base(platform),
            text,
        }
    }

    /// Calls `/<service>/<method>` with `request`.
    pub async fn unary<Req: Message, Res: Message + Default>(
        &self,
        path: &str,
        request: &Req,
        token: Option<&str>,
    ) -> Result<Res, WebError> {
        let (messages, error) = self.call(path, request, token).await;
        if let Some(error) = error {
            return Err(error);
        }
        let first = messages.first().expect("one message");
        Ok(Res::decode(first.as_slice()).expect("the message decodes"))
    }

    /// The status code of a call, whatever it answers.
    pub async fn code<Req: Message>(&self, path: &str, request: &Req, token: Option<&str>) -> Code {
        match self.call(path, request, token).await {
            (_, Some(error)) => error.code,
            (_, None) => Code::Ok,
        }
    }

    /// Sends one framed message; returns the answer's messages and, unless
    /// it is OK, its error.
    async fn call<Req: Message>(
        &self,
        path: &str,
        request: &Req,
        token: Option<&str>,
    ) -> (Vec<Vec<u8>>, Option<WebError>) {
        let payload = request.encode_to_vec();
        let mut frame = Vec::with_capacity(payload.len() + 5);
        frame.push(0u8);
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(&payload);
        let (content_type, body) = if self.text {
            (
                "application/grpc-web-text",
                STANDARD.encode(&frame).into_bytes(),
            )
        } else {
            ("application/grpc-web+proto", frame)
        };
        let mut call = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("accept", content_type)
            .header("x-grpc-web", "1")
            .body(body);
        if let Some(token) = token {
            call = call.bearer_auth(token);
        }
        let response = call.send().await.expect("the gateway answers");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "gRPC-web answers HTTP 200"
        );
        let headers = response.headers().clone();
        let raw = response.bytes().await.expect("a body").to_vec();
        let bytes = if self.text { decode_text(&raw) } else { raw };
        let (messages, trailers) = parse_frames(&bytes);
        let status = trailers
            .get("grpc-status")
            .cloned()
            .or_else(|| header_text(&headers, "grpc-status"))
            .expect("a grpc-status in the trailers or headers");
        let code = Code::from_i32(status.parse().expect("a numeric grpc-status"));
        if code == Code::Ok {
            return (messages, None);
        }
        let message = trailers
            .get("grpc-message")
            .cloned()
            .or_else(|| header_text(&headers, "grpc-message"))
            .unwrap_or_default();
        (messages, Some(WebError { code, message }))
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_string)
}

/// Decodes gRPC-web text: concatenated base64 chunks, each padded, so it is
/// decoded four characters at a time.
fn decode_text(raw: &[u8]) -> Vec<u8> {
    let clean: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    clean
        .chunks(4)
        .flat_map(|group| STANDARD.decode(group).expect("valid base64"))
        .collect()
}

/// Splits gRPC-web frames into messages and the trailer map.
fn parse_frames(mut bytes: &[u8]) -> (Vec<Vec<u8>>, std::collections::HashMap<String, String>) {
    let mut messages = Vec::new();
    let mut trailers = std::collections::HashMap::new();
    while bytes.len() >= 5 {
        let flag = bytes[0];
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        let payload = &bytes[5..5 + len];
        if flag & 0x80 != 0 {
            for line in String::from_utf8_lossy(payload).split("\r\n") {
                if let Some((k, v)) = line.split_once(':') {
                    trailers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
        } else {
            messages.push(payload.to_vec());
        }
        bytes = &bytes[5 + len..];
    }
    (messages, trailers)
}

/// Reads REST JSON into the typed message `T` (named `full_name`) through
/// the gateway's own JSON mapping, so that answers of the three protocols
/// compare as messages.
pub fn from_rest<T: Message + Default>(json: Value, full_name: &str) -> T {
    let descriptor = fip_gateway::descriptors::pool()
        .get_message_by_name(full_name)
        .expect("a known message");
    fip_gateway::rest::json::from_json(json, &descriptor)
        .unwrap_or_else(|e| panic!("{full_name} does not read: {e}"))
        .transcode_to::<T>()
        .expect("transcodes")
}
