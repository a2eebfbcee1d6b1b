//! CloudWatch Logs.

use aws_sdk_cloudwatchlogs::Client;

use super::errors::{class_of, AwsResultExt, ErrorClass};

/// The last `count` lines of a stream (empty when the stream does not exist).
pub async fn last_lines(
    client: &Client,
    group: &str,
    stream: &str,
    count: i32,
) -> anyhow::Result<Vec<String>> {
    let result = client
        .get_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .start_from_head(false)
        .limit(count)
        .send()
        .await
        .aws_context(|| format!("reading log stream {stream} of {group}"));
    match result {
        Ok(output) => Ok(output
            .events()
            .iter()
            .filter_map(|event| {
                event
                    .message()
                    .map(|message| message.trim_end().to_string())
            })
            .collect()),
        Err(error) if class_of(&error) == Some(ErrorClass::NotFound) => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}

/// One log event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LogEvent {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub stream: String,
    pub message: String,
    pub id: String,
}

/// What to read: a group, optional stream prefix and filter pattern, and the
/// time range `[start, end)` in epoch milliseconds (AWS semantics: start
/// inclusive, end exclusive; enforced here too, whatever the server does).
#[derive(Clone, Debug)]
pub struct Query {
    pub group: String,
    pub stream_prefix: Option<String>,
    pub pattern: Option<String>,
}

/// One page of FilterLogEvents in `[start, end)`.
///
/// The streams are asked for interleaved: AWS has ignored the flag since 2019 and
/// always interleaves them in time order, which `logs` relies on (a first page in
/// time order holds every event before its last timestamp). Asking for it keeps that
/// order with any server that still honours the flag (the local cloud's does), and
/// `logs` checks the order of every first page before relying on it.
#[allow(deprecated)]
pub async fn filter_page(
    client: &Client,
    query: &Query,
    start: i64,
    end: i64,
    token: Option<String>,
) -> anyhow::Result<(Vec<LogEvent>, Option<String>)> {
    let output = client
        .filter_log_events()
        .interleaved(true)
        .log_group_name(&query.group)
        .set_log_stream_name_prefix(query.stream_prefix.clone())
        .set_filter_pattern(query.pattern.clone())
        .start_time(start)
        .end_time(end)
        .limit(10_000)
        .set_next_token(token)
        .send()
        .await
        .aws_context(|| format!("reading log group {}", query.group))?;
    // The strings are moved out of the response, not copied.
    let events = output
        .events
        .unwrap_or_default()
        .into_iter()
        .filter_map(|event| {
            let timestamp = event.timestamp?;
            (timestamp >= start && timestamp < end).then(|| {
                let mut message = event.message.unwrap_or_default();
                drop_line_breaks_at_end(&mut message);
                LogEvent {
                    timestamp,
                    stream: event.log_stream_name.unwrap_or_default(),
                    message,
                    id: event.event_id.unwrap_or_default(),
                }
            })
        })
        .collect();
    Ok((events, output.next_token))
}

/// A message without the line breaks at its end (`\n`, `\r\n`, `\r`): the
/// awslogs driver keeps the one that ended the line in the container.
fn drop_line_breaks_at_end(message: &mut String) {
    message.truncate(message.trim_end_matches(['\r', '\n']).len());
}

/// Every event of `[start, end)`, following page tokens.
pub async fn filter_all(
    client: &Client,
    query: &Query,
    start: i64,
    end: i64,
) -> anyhow::Result<Vec<LogEvent>> {
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let (page, next) = filter_page(client, query, start, end, token).await?;
        events.extend(page);
        match next {
            Some(next) => token = Some(next),
            None => return Ok(events),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_loses_the_line_breaks_at_its_end_only() {
        for (message, want) in [
            ("plain", "plain"),
            ("unix\n", "unix"),
            ("windows\r\n", "windows"),
            ("old mac\r", "old mac"),
            ("two\r\n\r\n", "two"),
            ("in\r\nthe middle\r\n", "in\r\nthe middle"),
            ("trailing space \n", "trailing space "),
            ("\r\n", ""),
        ] {
            let mut message = message.to_owned();
            drop_line_breaks_at_end(&mut message);
            assert_eq!(message, want);
        }
    }
}
