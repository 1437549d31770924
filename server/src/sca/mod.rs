//! Strong customer authentication: the password factor and login throttling, one-time codes sent
//! by SMS, and when an authorization steps up to SCA. TOTP, passkeys and the exemption policy
//! join with their issue.

pub mod config;
pub mod login;
pub mod otp;
pub mod password;
pub mod sms;
pub mod step_up;
