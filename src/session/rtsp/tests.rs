//! Tests of the camera client session: scripted camera replies on a simulated clock.
