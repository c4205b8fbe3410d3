//! ECS speaks JSON on the wire with exactly the field names of `aws ecs … --cli-input-json`.
//! greenlight's task-definition transform works on that JSON so that no field is lost,
//! including fields this SDK version does not model yet. These interceptors let a typed SDK
//! call carry it: one sends a prepared JSON body, the other keeps the raw response body.

use std::sync::{Arc, Mutex};

use aws_sdk_ecs::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_types::body::SdkBody;

/// Replaces the serialized request body with `body` (before signing, so the signature covers
/// it). The typed input only has to carry enough to be valid.
#[derive(Debug)]
pub(crate) struct SendJsonBody {
    pub(crate) body: String,
}

impl Intercept for SendJsonBody {
    fn name(&self) -> &'static str {
        "greenlight::SendJsonBody"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        *request.body_mut() = SdkBody::from(self.body.clone());
        request.headers_mut().insert("content-length", self.body.len().to_string());
        Ok(())
    }
}

/// Keeps a copy of the response body as JSON, for the caller to read after the call.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeepJsonBody {
    pub(crate) body: Arc<Mutex<Option<serde_json::Value>>>,
}

impl KeepJsonBody {
    pub(crate) fn take(&self) -> Option<serde_json::Value> {
        self.body.lock().ok()?.take()
    }
}

impl Intercept for KeepJsonBody {
    fn name(&self) -> &'static str {
        "greenlight::KeepJsonBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.response().status().is_success()
            && let Some(bytes) = context.response().body().bytes()
            && let Ok(mut slot) = self.body.lock()
        {
            *slot = serde_json::from_slice(bytes).ok();
        }
        Ok(())
    }
}
