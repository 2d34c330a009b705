//! The wasi-http 0.2 exchange behind [`crate::http::send`]: build the request, stream the
//! body, wait, read the body.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, HeaderError, IncomingBody, Method as WasiMethod, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

use crate::http::{Error, Method, Request, Response, parse_url};

/// `blocking-write-and-flush` accepts at most this many bytes per call.
const WRITE_CHUNK: usize = 4096;
const READ_CHUNK: u64 = 64 * 1024;

pub(crate) fn send(request: &Request) -> Result<Response, Error> {
    let target = parse_url(request.url())?;
    let host = target.host.clone();

    let mut entries: Vec<(String, Vec<u8>)> = request
        .headers()
        .iter()
        .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
        .collect();
    // Declare the length up front: without it the body goes out chunked, which some APIs
    // refuse.
    let has_body = !request.body_bytes().is_empty()
        || matches!(request.method(), Method::Post | Method::Put | Method::Patch);
    if has_body && request.header_value("content-length").is_none() {
        entries.push((
            "content-length".to_owned(),
            request.body_bytes().len().to_string().into_bytes(),
        ));
    }
    let headers = Fields::from_list(&entries).map_err(|e| {
        Error::InvalidRequest(match e {
            HeaderError::Forbidden => {
                "a header is managed by the HTTP layer and may not be set".to_owned()
            }
            HeaderError::InvalidSyntax => "a header name or value is malformed".to_owned(),
            HeaderError::Immutable => "headers are immutable".to_owned(),
        })
    })?;

    let outgoing = OutgoingRequest::new(headers);
    let invalid = |what: &str| Error::InvalidRequest(format!("the host refused the {what}"));
    outgoing
        .set_method(&wasi_method(request.method()))
        .map_err(|()| invalid("method"))?;
    let scheme = if target.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    outgoing
        .set_authority(Some(&target.authority))
        .map_err(|()| invalid("authority"))?;
    outgoing
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| invalid("path"))?;
    let body = outgoing.body().map_err(|()| invalid("body"))?;

    let options = request.timeout_value().map(|t| {
        let options = RequestOptions::new();
        let ns = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        // A host may not support some timeouts; the call deadline still applies then.
        let _ = options.set_connect_timeout(Some(ns));
        let _ = options.set_first_byte_timeout(Some(ns));
        let _ = options.set_between_bytes_timeout(Some(ns));
        options
    });

    // Hand the request over first and stream the body afterwards: writing a large body
    // before anyone reads it could block forever.
    let future =
        outgoing_handler::handle(outgoing, options).map_err(|code| map_error_code(code, &host))?;
    let written = write_body(body, request.body_bytes(), &host);

    // When the exchange fails (e.g. the host denied it), writing the body fails too, with a
    // useless "stream closed": the response future carries the real reason, so ask it first.
    let response = loop {
        match future.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(code))) => return Err(map_error_code(code, &host)),
            Some(Err(())) => {
                return Err(Error::Transport("response already taken".to_owned()));
            }
            None => future.subscribe().block(),
        }
    };
    written?;

    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| Error::Transport("response body already consumed".to_owned()))?;
    let body = read_body(&incoming, request.max_response_bytes_value(), &host)?;
    drop(IncomingBody::finish(incoming));
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn wasi_method(method: Method) -> WasiMethod {
    match method {
        Method::Get => WasiMethod::Get,
        Method::Head => WasiMethod::Head,
        Method::Post => WasiMethod::Post,
        Method::Put => WasiMethod::Put,
        Method::Patch => WasiMethod::Patch,
        Method::Delete => WasiMethod::Delete,
        Method::Options => WasiMethod::Options,
    }
}

fn write_body(body: OutgoingBody, bytes: &[u8], host: &str) -> Result<(), Error> {
    {
        let stream = body
            .write()
            .map_err(|()| Error::Transport("request body stream unavailable".to_owned()))?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| stream_error(e, host, "sending the request body"))?;
        }
        // The stream must be dropped before the body is finished.
    }
    OutgoingBody::finish(body, None).map_err(|code| map_error_code(code, host))
}

fn read_body(incoming: &IncomingBody, limit: usize, host: &str) -> Result<Vec<u8>, Error> {
    let stream = incoming
        .stream()
        .map_err(|()| Error::Transport("response body stream unavailable".to_owned()))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => {
                if body.len() + chunk.len() > limit {
                    return Err(Error::TooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok(body),
            Err(e) => return Err(stream_error(e, host, "reading the response body")),
        }
    }
}

fn stream_error(e: StreamError, host: &str, doing: &str) -> Error {
    match e {
        StreamError::Closed => Error::Transport(format!("stream closed while {doing}")),
        StreamError::LastOperationFailed(io) => match wasip2::http::types::http_error_code(&io) {
            Some(code) => map_error_code(code, host),
            None => Error::Transport(format!("{doing}: {}", io.to_debug_string())),
        },
    }
}

/// Sorts wasi-http's error codes into the few cases a plugin acts on.
fn map_error_code(code: ErrorCode, host: &str) -> Error {
    use ErrorCode as C;
    let text = format!("{code:?} ({host})");
    match code {
        C::HttpRequestDenied => Error::Denied {
            host: host.to_owned(),
        },
        C::DnsTimeout
        | C::ConnectionTimeout
        | C::ConnectionReadTimeout
        | C::ConnectionWriteTimeout
        | C::HttpResponseTimeout => Error::Timeout(text),
        C::DnsError(_)
        | C::DestinationNotFound
        | C::DestinationUnavailable
        | C::DestinationIpProhibited
        | C::DestinationIpUnroutable
        | C::ConnectionRefused
        | C::ConnectionLimitReached
        | C::TlsProtocolError
        | C::TlsCertificateError
        | C::TlsAlertReceived(_) => Error::Connect(text),
        C::HttpRequestLengthRequired
        | C::HttpRequestBodySize(_)
        | C::HttpRequestMethodInvalid
        | C::HttpRequestUriInvalid
        | C::HttpRequestUriTooLong
        | C::HttpRequestHeaderSectionSize(_)
        | C::HttpRequestHeaderSize(_)
        | C::HttpRequestTrailerSectionSize(_)
        | C::HttpRequestTrailerSize(_)
        | C::ConfigurationError => Error::InvalidRequest(text),
        _ => Error::Transport(text),
    }
}
