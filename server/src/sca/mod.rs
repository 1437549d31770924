//! Strong customer authentication: the password factor and login throttling here; one-time codes,
//! TOTP, passkeys and the exemption policy join with their issues.

pub mod login;
pub mod password;
