//! The integration tests: the built `ohproxy` binary run in a temporary home, against real
//! tools (openssl, mkcert, certutil, nginx, Docker) where a user would meet them.

mod access;
mod certs;
mod docker_image;
mod docker_observe;
mod docker_up;
mod doctor;
mod nginx_apply;
mod nginx_proxy;
mod nginx_render;
mod onboarding;
mod real_clients;
mod sandbox_routes;
mod support;
mod testapp;
mod trust;
