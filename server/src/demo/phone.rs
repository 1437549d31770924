//! The demo's phone: with `--demo` and no `sca.sms.gateway_url`, one-time codes are printed on the
//! console of the demo process instead of sent, so a newcomer can complete SCA without an SMS
//! provider. Never used outside the demo: a real deployment configures its gateway, or has no
//! SMS codes at all.

use async_trait::async_trait;

use crate::sca::sms::{SmsError, SmsGateway};

#[derive(Debug, Default)]
pub struct ConsolePhone;

#[async_trait]
impl SmsGateway for ConsolePhone {
    async fn send(&self, to: &str, text: &str) -> Result<(), SmsError> {
        println!("[demo phone {to}] {text}");
        Ok(())
    }
}
