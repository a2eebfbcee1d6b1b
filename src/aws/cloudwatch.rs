//! CloudWatch metrics: the latest value of a few metrics in one GetMetricData call.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_sdk_cloudwatch::Client;
use aws_smithy_types::DateTime;

use super::errors::AwsResultExt;

/// GetMetricData takes at most this many queries per request.
const QUERIES_PER_REQUEST: usize = 500;

/// One metric, as CloudWatch names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricName {
    pub namespace: String,
    pub name: String,
    /// Name and value of every dimension; a metric matches only with all of them.
    pub dimensions: Vec<(String, String)>,
}

impl MetricName {
    pub fn new(namespace: &str, name: &str, dimensions: &[(&str, &str)]) -> Self {
        MetricName {
            namespace: namespace.to_string(),
            name: name.to_string(),
            dimensions: dimensions
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        }
    }
}

impl std::fmt::Display for MetricName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.namespace, self.name)?;
        for (index, (key, value)) in self.dimensions.iter().enumerate() {
            write!(f, "{}{key}={value}", if index == 0 { " " } else { "," })?;
        }
        Ok(())
    }
}

/// One value of a metric: the statistic over the period that starts at `time`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Datapoint {
    pub time: SystemTime,
    pub value: f64,
}

/// The datapoint with the newest timestamp, whatever order CloudWatch used.
pub fn newest(timestamps: &[DateTime], values: &[f64]) -> Option<Datapoint> {
    timestamps
        .iter()
        .zip(values)
        .filter_map(|(time, value)| {
            Some(Datapoint {
                time: SystemTime::try_from(*time).ok()?,
                value: *value,
            })
        })
        .max_by_key(|datapoint| datapoint.time)
}

/// The newest Average of each metric over `[start, end)`, one datapoint per
/// `period`; `None` where CloudWatch has no data. The answer is in the order
/// of `metrics`.
pub async fn latest_averages(
    client: &Client,
    metrics: &[MetricName],
    start: SystemTime,
    end: SystemTime,
    period: Duration,
) -> anyhow::Result<Vec<Option<Datapoint>>> {
    let mut latest: Vec<Option<Datapoint>> = vec![None; metrics.len()];
    let period_seconds = i32::try_from(period.as_secs()).unwrap_or(i32::MAX);
    for (chunk_index, chunk) in metrics.chunks(QUERIES_PER_REQUEST).enumerate() {
        let offset = chunk_index * QUERIES_PER_REQUEST;
        let queries: Vec<MetricDataQuery> = chunk
            .iter()
            .enumerate()
            .map(|(index, metric)| query(&query_id(offset + index), metric, period_seconds))
            .collect();
        let mut next_token: Option<String> = None;
        loop {
            let output = client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from(start))
                .end_time(DateTime::from(end))
                .scan_by(ScanBy::TimestampDescending)
                .set_next_token(next_token.clone())
                .send()
                .await
                .aws_context(|| describe_request(chunk))?;
            for result in output.metric_data_results() {
                let Some(index) = result.id().and_then(index_of_query_id) else {
                    continue;
                };
                let Some(slot) = latest.get_mut(index) else {
                    continue;
                };
                if let Some(found) = newest(result.timestamps(), result.values()) {
                    if slot.is_none_or(|known| found.time > known.time) {
                        *slot = Some(found);
                    }
                }
            }
            next_token = output.next_token().map(str::to_string);
            if next_token.is_none() {
                break;
            }
        }
    }
    Ok(latest)
}

/// Query ids must start with a lower-case letter: `m0`, `m1`, ...
fn query_id(index: usize) -> String {
    format!("m{index}")
}

fn index_of_query_id(id: &str) -> Option<usize> {
    id.strip_prefix('m')?.parse().ok()
}

fn query(id: &str, metric: &MetricName, period_seconds: i32) -> MetricDataQuery {
    let dimensions = metric
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(&metric.namespace)
                        .metric_name(&metric.name)
                        .set_dimensions(Some(dimensions))
                        .build(),
                )
                .period(period_seconds)
                .stat("Average")
                .build(),
        )
        .return_data(true)
        .build()
}

fn describe_request(metrics: &[MetricName]) -> String {
    match metrics {
        [] => "reading CloudWatch metrics".to_string(),
        [only] => format!("reading CloudWatch metric {only}"),
        [first, rest @ ..] => format!("reading CloudWatch metrics {first} and {} more", rest.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_datapoint_wins_in_any_order() {
        let older = DateTime::from_secs(1_700_000_000);
        let newer = DateTime::from_secs(1_700_000_120);
        let expected = Some(Datapoint {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_120),
            value: 42.5,
        });
        assert_eq!(newest(&[older, newer], &[20.0, 42.5]), expected);
        assert_eq!(newest(&[newer, older], &[42.5, 20.0]), expected);
        assert_eq!(newest(&[], &[]), None);
    }

    #[test]
    fn query_ids_are_valid_and_map_back() {
        assert_eq!(query_id(12), "m12");
        assert_eq!(index_of_query_id("m12"), Some(12));
        assert_eq!(index_of_query_id("x1"), None);
    }

    #[test]
    fn a_metric_is_named_with_its_dimensions() {
        let metric = MetricName::new(
            "AWS/ECS",
            "CPUUtilization",
            &[("ClusterName", "demo-prod-v1"), ("ServiceName", "web")],
        );
        assert_eq!(
            metric.to_string(),
            "AWS/ECS CPUUtilization ClusterName=demo-prod-v1,ServiceName=web"
        );
        assert_eq!(
            describe_request(&[metric.clone(), metric]),
            "reading CloudWatch metrics AWS/ECS CPUUtilization ClusterName=demo-prod-v1,ServiceName=web and 1 more"
        );
    }
}

/// What moto cannot show (it does not speak CloudWatch's RPCv2 CBOR protocol),
/// tested with responses shaped like AWS's (CloudWatch API reference,
/// GetMetricData: results by query id, NextToken pages, TimestampDescending).
#[cfg(test)]
mod aws_shaped_tests {
    use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::{MetricDataResult, StatusCode};
    use aws_smithy_mocks::{
        create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode,
    };

    use super::*;

    /// A client answered by `rules` (the crate's test-util feature is not on,
    /// so this is what `mock_client!` would build).
    fn mocked(rules: &[&Rule]) -> Client {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        Client::from_conf(
            aws_sdk_cloudwatch::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("eu-west-1"))
                .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                .http_client(create_mock_http_client())
                .interceptor(interceptor)
                .build(),
        )
    }

    fn result(id: &str, points: &[(i64, f64)]) -> MetricDataResult {
        let mut builder = MetricDataResult::builder()
            .id(id)
            .status_code(StatusCode::Complete);
        for (seconds, value) in points {
            builder = builder
                .timestamps(DateTime::from_secs(*seconds))
                .values(*value);
        }
        builder.build()
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[tokio::test]
    async fn the_newest_value_of_each_metric_across_pages_in_the_order_asked() {
        let pages = mock!(Client::get_metric_data)
            .match_requests(|input| {
                input.metric_data_queries().len() == 3
                    && input.scan_by() == Some(&ScanBy::TimestampDescending)
            })
            .sequence()
            .output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result(
                        "m0",
                        &[(1_700_000_120, 42.5), (1_700_000_000, 20.0)],
                    ))
                    .metric_data_results(result("m1", &[]))
                    .next_token("page-2")
                    .build()
            })
            .output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result("m0", &[(1_699_999_940, 10.0)]))
                    .metric_data_results(result("m2", &[(1_700_000_060, 63.0)]))
                    .build()
            })
            .build();
        let client = mocked(&[&pages]);
        let metrics = [
            MetricName::new(
                "AWS/ECS",
                "CPUUtilization",
                &[("ClusterName", "demo-prod-v1"), ("ServiceName", "web")],
            ),
            MetricName::new(
                "AWS/ECS",
                "MemoryUtilization",
                &[("ClusterName", "demo-prod-v1"), ("ServiceName", "web")],
            ),
            MetricName::new(
                "AWS/ECS",
                "CPUUtilization",
                &[("ClusterName", "demo-prod-v1")],
            ),
        ];
        let latest = latest_averages(
            &client,
            &metrics,
            at(1_699_999_300),
            at(1_700_000_200),
            Duration::from_secs(60),
        )
        .await
        .expect("reads");
        assert_eq!(
            latest,
            vec![
                Some(Datapoint {
                    time: at(1_700_000_120),
                    value: 42.5
                }),
                None,
                Some(Datapoint {
                    time: at(1_700_000_060),
                    value: 63.0
                }),
            ]
        );
        assert_eq!(pages.num_calls(), 2);
    }

    #[tokio::test]
    async fn no_metric_asked_is_an_empty_answer() {
        let never =
            mock!(Client::get_metric_data).then_output(|| GetMetricDataOutput::builder().build());
        let client = mocked(&[&never]);
        let latest = latest_averages(&client, &[], at(0), at(60), Duration::from_secs(60))
            .await
            .expect("reads");
        assert!(latest.is_empty());
        assert_eq!(never.num_calls(), 0);
    }
}
