//! Step Functions: start one execution of the deploy state machine per push and service.

use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use greenlight_core::Error;
use greenlight_core::ports::{ExecutionStart, Executions};

use crate::error::classify;

#[derive(Debug, Clone)]
pub struct SfnExecutions {
    client: aws_sdk_sfn::Client,
    state_machine_arn: String,
}

impl SfnExecutions {
    pub fn new(client: aws_sdk_sfn::Client, state_machine_arn: impl Into<String>) -> Self {
        Self { client, state_machine_arn: state_machine_arn.into() }
    }
}

impl Executions for SfnExecutions {
    async fn start(&self, name: &str, input: &str) -> Result<ExecutionStart, Error> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await;
        match result {
            Ok(out) => Ok(ExecutionStart::Started { execution_arn: out.execution_arn().to_string() }),
            // A duplicated event: the execution for this push already exists.
            Err(e) if e.as_service_error().is_some_and(StartExecutionError::is_execution_already_exists) => {
                Ok(ExecutionStart::AlreadyExists { name: name.to_string() })
            }
            Err(e) => Err(classify("states:StartExecution", e, |_| None)),
        }
    }
}

impl greenlight_core::ports::TaskTokens for SfnExecutions {
    async fn succeed(&self, task_token: &str, output: &serde_json::Value) -> Result<(), Error> {
        self.client
            .send_task_success()
            .task_token(task_token)
            .output(output.to_string())
            .send()
            .await
            .map_err(|e| classify("states:SendTaskSuccess", e, |_| None))?;
        Ok(())
    }

    async fn fail(&self, task_token: &str, error: &str, cause: &str) -> Result<(), Error> {
        let result = self.client.send_task_failure().task_token(task_token).error(error).cause(cause).send().await;
        match result {
            Ok(_) => Ok(()),
            // The task no longer waits (it timed out, or its execution ended): nothing to end.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_task_timed_out() || s.is_task_does_not_exist() || s.is_invalid_token()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("states:SendTaskFailure", e, |_| None)),
        }
    }
}
