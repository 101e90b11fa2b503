//! Real gRPC calls to the owning service with messages built at run time:
//! a tonic codec over prost-reflect's `DynamicMessage`, and the metadata a
//! REST request carries upstream (bearer token, client address, request id,
//! trace context).

use bytes::Buf;
use fip_kit::auth::forwarded;
use fip_kit::mesh::Peers;
use futures::Stream;
use http::HeaderMap;
use http::uri::PathAndQuery;
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder, Streaming};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use super::table::Route;

/// Encodes any `DynamicMessage`; decodes into the given descriptor.
#[derive(Clone)]
pub struct DynamicCodec {
    output: MessageDescriptor,
}

impl DynamicCodec {
    pub fn new(output: MessageDescriptor) -> Self {
        Self { output }
    }
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder(self.output.clone())
    }
}

pub struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the request: {e}")))
    }
}

pub struct DynamicDecoder(MessageDescriptor);

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        let message = DynamicMessage::decode(self.0.clone(), src.copy_to_bytes(src.remaining()))
            .map_err(|e| Status::internal(format!("decoding the response: {e}")))?;
        Ok(Some(message))
    }
}

/// Headers passed on to the owning service as metadata: the caller's
/// token, tracing, and what the edge stamped about the client
/// ([`fip_kit::auth::forwarded`]).
const FORWARDED: &[&str] = &[
    "authorization",
    "x-request-id",
    "traceparent",
    "tracestate",
    "grpc-timeout",
    forwarded::EDGE,
    forwarded::CLIENT_ADDRESS,
    forwarded::CLIENT_USER_AGENT,
];

/// The metadata of an upstream call made for an HTTP request.
pub fn metadata(headers: &HeaderMap) -> MetadataMap {
    let mut map = MetadataMap::new();
    for name in FORWARDED {
        if let Some(value) = headers.get(*name)
            && let Ok(value) = MetadataValue::try_from(value.as_bytes())
        {
            map.insert(*name, value);
        }
    }
    map
}

/// A client for one route's owner.
pub struct Upstream {
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
    path: PathAndQuery,
    codec: DynamicCodec,
}

impl Upstream {
    /// The client for `route`, or UNAVAILABLE when its owner is unknown.
    /// An upload (a client-streaming route) goes on the owner's streaming
    /// channel, which sets no overall time limit.
    pub fn for_route(peers: &Peers, route: &Route) -> Result<Self, Status> {
        let channel = if route.rpc.is_client_streaming() {
            peers.streaming_channel(route.owner)
        } else {
            peers.channel(route.owner)
        };
        let channel = channel.ok_or_else(|| {
            Status::unavailable(format!("the {} service is not configured", route.owner))
        })?;
        let path = PathAndQuery::try_from(route.grpc_path())
            .map_err(|_| Status::internal("bad method path"))?;
        Ok(Self {
            grpc: tonic::client::Grpc::new(channel),
            path,
            codec: DynamicCodec::new(route.rpc.output()),
        })
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.grpc.ready().await.map_err(|e| {
            tracing::warn!(error = %e, "upstream unreachable");
            Status::new(Code::Unavailable, "the service is unreachable")
        })
    }

    pub async fn unary(
        mut self,
        message: DynamicMessage,
        metadata: MetadataMap,
    ) -> Result<DynamicMessage, Status> {
        self.ready().await?;
        let request = tonic::Request::from_parts(metadata, Default::default(), message);
        let response = self.grpc.unary(request, self.path, self.codec).await?;
        Ok(response.into_inner())
    }

    pub async fn server_streaming(
        mut self,
        message: DynamicMessage,
        metadata: MetadataMap,
    ) -> Result<Streaming<DynamicMessage>, Status> {
        self.ready().await?;
        let request = tonic::Request::from_parts(metadata, Default::default(), message);
        let response = self
            .grpc
            .server_streaming(request, self.path, self.codec)
            .await?;
        Ok(response.into_inner())
    }

    pub async fn client_streaming<S>(
        mut self,
        messages: S,
        metadata: MetadataMap,
    ) -> Result<DynamicMessage, Status>
    where
        S: Stream<Item = DynamicMessage> + Send + 'static,
    {
        self.ready().await?;
        let request = tonic::Request::from_parts(metadata, Default::default(), messages);
        let response = self
            .grpc
            .client_streaming(request, self.path, self.codec)
            .await?;
        Ok(response.into_inner())
    }
}
