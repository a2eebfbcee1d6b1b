//! What a service's deployments say about a rollout (ECS API reference,
//! `Service` and `Deployment`; "Amazon ECS deployment circuit breaker").
//!
//! Success is only: the deployment carrying the new task definition is
//! PRIMARY, its rollout is COMPLETED and its running count equals its desired
//! count. A FAILED rollout, or a new deployment that disappeared while the
//! service went back to another task definition, is a failure.

use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub running: i32,
    pub pending: i32,
    pub desired: i32,
    pub failed: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
    InProgress(Counts),
    Completed(Counts),
    Failed {
        reason: String,
        /// The task definition ECS rolled back to by itself (circuit breaker).
        rolled_back_to: Option<String>,
    },
}

fn counts(deployment: &Deployment) -> Counts {
    Counts {
        running: deployment.running_count(),
        pending: deployment.pending_count(),
        desired: deployment.desired_count(),
        failed: deployment.failed_tasks(),
    }
}

/// The state of the rollout of `task_definition` on `service`.
pub fn interpret(service: &Service, task_definition: &str) -> Rollout {
    let deployments = service.deployments();
    let primary = deployments
        .iter()
        .find(|deployment| deployment.status() == Some("PRIMARY"));
    let ours = deployments
        .iter()
        .find(|deployment| deployment.task_definition() == Some(task_definition));
    let Some(ours) = ours else {
        // Ours is gone: if the service went back to another definition, ECS rolled back.
        return match primary.and_then(|primary| primary.task_definition()) {
            Some(other) if service.task_definition() != Some(task_definition) => Rollout::Failed {
                reason: "the new deployment disappeared and the service went back to an earlier task definition".into(),
                rolled_back_to: Some(other.to_string()),
            },
            _ => Rollout::InProgress(Counts { running: 0, pending: 0, desired: 0, failed: 0 }),
        };
    };
    let is_primary = ours.status() == Some("PRIMARY");
    match ours.rollout_state() {
        Some(DeploymentRolloutState::Failed) => Rollout::Failed {
            reason: ours
                .rollout_state_reason()
                .unwrap_or("the deployment failed")
                .to_string(),
            rolled_back_to: primary
                .filter(|primary| primary.task_definition() != Some(task_definition))
                .and_then(|primary| primary.task_definition())
                .map(str::to_string),
        },
        Some(DeploymentRolloutState::Completed)
            if is_primary && ours.running_count() == ours.desired_count() =>
        {
            Rollout::Completed(counts(ours))
        }
        // Services without rollout states (no circuit breaker, older APIs):
        // the only deployment left, fully running, is done.
        None if is_primary
            && deployments.len() == 1
            && ours.running_count() == ours.desired_count() =>
        {
            Rollout::Completed(counts(ours))
        }
        // Without a circuit breaker ECS retries failing tasks for ever; stop
        // where the breaker would have: that many tasks failed, none running.
        Some(DeploymentRolloutState::InProgress) | None
            if !has_circuit_breaker(service)
                && ours.running_count() == 0
                && ours.failed_tasks() >= failure_threshold(ours.desired_count()) =>
        {
            Rollout::Failed {
                reason: format!(
                    "{} tasks of the new revision failed and none runs (the service has no deployment circuit breaker; stackup stops at its threshold)",
                    ours.failed_tasks()
                ),
                rolled_back_to: None,
            }
        }
        _ => Rollout::InProgress(counts(ours)),
    }
}

fn has_circuit_breaker(service: &Service) -> bool {
    service
        .deployment_configuration()
        .and_then(|configuration| configuration.deployment_circuit_breaker())
        .is_some_and(|breaker| breaker.enable())
}

/// The circuit breaker's failed task threshold: half the desired count,
/// at least 3 and at most 200 (ECS developer guide, "How the Amazon ECS
/// deployment circuit breaker detects failures").
pub fn failure_threshold(desired: i32) -> i32 {
    ((desired + 1) / 2).clamp(3, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/demo-prod-v1-web:7";
    const NEW: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/demo-prod-v1-web:8";

    fn deployment(
        id: &str,
        status: &str,
        task_definition: &str,
        state: Option<DeploymentRolloutState>,
        (desired, running, pending, failed): (i32, i32, i32, i32),
        reason: Option<&str>,
    ) -> Deployment {
        Deployment::builder()
            .id(id)
            .status(status)
            .task_definition(task_definition)
            .set_rollout_state(state)
            .desired_count(desired)
            .running_count(running)
            .pending_count(pending)
            .failed_tasks(failed)
            .set_rollout_state_reason(reason.map(str::to_string))
            .build()
    }

    fn service(task_definition: &str, deployments: Vec<Deployment>) -> Service {
        Service::builder()
            .service_name("web")
            .task_definition(task_definition)
            .desired_count(2)
            .set_deployments(Some(deployments))
            .build()
    }

    #[test]
    fn a_rollout_is_followed_to_completion() {
        let starting = service(
            NEW,
            vec![
                deployment(
                    "ecs-svc/2",
                    "PRIMARY",
                    NEW,
                    Some(DeploymentRolloutState::InProgress),
                    (2, 0, 2, 0),
                    None,
                ),
                deployment(
                    "ecs-svc/1",
                    "ACTIVE",
                    OLD,
                    Some(DeploymentRolloutState::Completed),
                    (2, 2, 0, 0),
                    None,
                ),
            ],
        );
        assert_eq!(
            interpret(&starting, NEW),
            Rollout::InProgress(Counts {
                running: 0,
                pending: 2,
                desired: 2,
                failed: 0
            })
        );
        let running_but_not_done = service(
            NEW,
            vec![deployment(
                "ecs-svc/2",
                "PRIMARY",
                NEW,
                Some(DeploymentRolloutState::InProgress),
                (2, 2, 0, 0),
                None,
            )],
        );
        assert!(
            matches!(
                interpret(&running_but_not_done, NEW),
                Rollout::InProgress(_)
            ),
            "COMPLETED is required"
        );
        let done = service(
            NEW,
            vec![deployment(
                "ecs-svc/2",
                "PRIMARY",
                NEW,
                Some(DeploymentRolloutState::Completed),
                (2, 2, 0, 0),
                Some("ECS deployment ecs-svc/2 completed."),
            )],
        );
        assert!(matches!(interpret(&done, NEW), Rollout::Completed(_)));
    }

    #[test]
    fn without_a_circuit_breaker_tasks_failing_to_start_fail_at_its_threshold() {
        let failing = |failed| {
            service(
                NEW,
                vec![
                    deployment("ecs-svc/2", "PRIMARY", NEW, None, (2, 0, 1, failed), None),
                    deployment("ecs-svc/1", "ACTIVE", OLD, None, (2, 2, 0, 0), None),
                ],
            )
        };
        assert!(matches!(
            interpret(&failing(2), NEW),
            Rollout::InProgress(_)
        ));
        assert!(matches!(
            interpret(&failing(3), NEW),
            Rollout::Failed { rolled_back_to: None, reason } if reason.contains("3 tasks")
        ));
        // With a breaker, ECS decides (and rolls back by itself).
        let mut guarded = failing(3);
        guarded.deployment_configuration = Some(
            aws_sdk_ecs::types::DeploymentConfiguration::builder()
                .deployment_circuit_breaker(
                    aws_sdk_ecs::types::DeploymentCircuitBreaker::builder()
                        .enable(true)
                        .rollback(true)
                        .build(),
                )
                .build(),
        );
        assert!(matches!(interpret(&guarded, NEW), Rollout::InProgress(_)));
        assert_eq!(
            [1, 6, 7, 100, 1000].map(failure_threshold),
            [3, 3, 4, 50, 200]
        );
    }

    #[test]
    fn the_circuit_breaker_fails_and_rolls_back() {
        let rolled_back = service(
            OLD,
            vec![
                deployment(
                    "ecs-svc/3",
                    "PRIMARY",
                    OLD,
                    Some(DeploymentRolloutState::InProgress),
                    (2, 1, 1, 0),
                    Some("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1."),
                ),
                deployment(
                    "ecs-svc/2",
                    "ACTIVE",
                    NEW,
                    Some(DeploymentRolloutState::Failed),
                    (2, 0, 0, 4),
                    Some("ECS deployment circuit breaker: tasks failed to start."),
                ),
            ],
        );
        assert_eq!(
            interpret(&rolled_back, NEW),
            Rollout::Failed {
                reason: "ECS deployment circuit breaker: tasks failed to start.".into(),
                rolled_back_to: Some(OLD.into())
            }
        );
        // Later, the failed deployment is gone entirely.
        let afterwards = service(
            OLD,
            vec![deployment(
                "ecs-svc/3",
                "PRIMARY",
                OLD,
                Some(DeploymentRolloutState::Completed),
                (2, 2, 0, 0),
                None,
            )],
        );
        assert!(matches!(
            interpret(&afterwards, NEW),
            Rollout::Failed {
                rolled_back_to: Some(_),
                ..
            }
        ));
    }
}
