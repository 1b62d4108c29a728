//! The router: exact paths to async handlers per method, a fallback for every other path (a
//! static-file store), 404 without one, and 405 with `Allow` for a known path and another
//! method. `HEAD` runs the `GET` handler when there is no `HEAD` route (the server drops the
//! body).

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;

use futures::future::LocalBoxFuture;

use crate::message::{Request, Response};
use crate::parse::Method;
use crate::status::StatusCode;

type Handler = Rc<dyn Fn(Request) -> LocalBoxFuture<'static, Response>>;

fn boxed<H, F>(handler: H) -> Handler
where
    H: Fn(Request) -> F + 'static,
    F: Future<Output = Response> + 'static,
{
    Rc::new(move |req| Box::pin(handler(req)))
}

struct Route {
    path: String,
    methods: Vec<(Method, Handler)>,
}

/// Routes requests to handlers. See the [module docs](self).
///
/// ```
/// use morgana_http::{Request, Response, Router};
///
/// async fn hello(_req: Request) -> Response {
///     Response::ok("hello\n").with_header("Content-Type", "text/plain")
/// }
///
/// let router = Router::new()
///     .get("/", hello)
///     .post("/echo", |mut req: Request| async move {
///         match req.body_bytes().await {
///             Ok(body) => Response::ok(body),
///             Err(_) => Response::error(morgana_http::StatusCode::BAD_REQUEST),
///         }
///     });
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
    fallback: Option<Handler>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for r in &self.routes {
            for (m, _) in &r.methods {
                l.entry(&format_args!("{m} {}", r.path));
            }
        }
        if self.fallback.is_some() {
            l.entry(&format_args!("* (fallback)"));
        }
        l.finish()
    }
}

impl Router {
    /// No routes: every request is a 404.
    pub fn new() -> Router {
        Router::default()
    }

    /// Routes `method` on `path` (matched exactly, percent-encoding and all) to `handler`,
    /// replacing an earlier route for the same pair.
    pub fn route<H, F>(mut self, method: Method, path: &str, handler: H) -> Router
    where
        H: Fn(Request) -> F + 'static,
        F: Future<Output = Response> + 'static,
    {
        let handler = boxed(handler);
        let route = match self.routes.iter_mut().position(|r| r.path == path) {
            Some(i) => &mut self.routes[i],
            None => {
                self.routes.push(Route {
                    path: String::from(path),
                    methods: Vec::new(),
                });
                let last = self.routes.len() - 1;
                &mut self.routes[last]
            }
        };
        route.methods.retain(|(m, _)| *m != method);
        route.methods.push((method, handler));
        self
    }

    /// Routes `GET` (and so `HEAD`) on `path`.
    pub fn get<H, F>(self, path: &str, handler: H) -> Router
    where
        H: Fn(Request) -> F + 'static,
        F: Future<Output = Response> + 'static,
    {
        self.route(Method::Get, path, handler)
    }

    /// Routes `POST` on `path`.
    pub fn post<H, F>(self, path: &str, handler: H) -> Router
    where
        H: Fn(Request) -> F + 'static,
        F: Future<Output = Response> + 'static,
    {
        self.route(Method::Post, path, handler)
    }

    /// Routes `PUT` on `path`.
    pub fn put<H, F>(self, path: &str, handler: H) -> Router
    where
        H: Fn(Request) -> F + 'static,
        F: Future<Output = Response> + 'static,
    {
        self.route(Method::Put, path, handler)
    }

    /// Routes `DELETE` on `path`.
    pub fn delete<H, F>(self, path: &str, handler: H) -> Router
    where
        H: Fn(Request) -> F + 'static,
        F: Future<Output = Response> + 'static,
    {
        self.route(Method::Delete, path, handler)
    }

    /// Handles every request whose path has no route, whatever its method.
    pub fn fallback<H, F>(mut self, handler: H) -> Router
    where
        H: Fn(Request) -> F + 'static,
        F: Future<Output = Response> + 'static,
    {
        self.fallback = Some(boxed(handler));
        self
    }

    /// The handler's response to `req`, or the router's own 404 or 405.
    pub fn dispatch(&self, req: Request) -> LocalBoxFuture<'static, Response> {
        let Some(route) = self.routes.iter().find(|r| r.path == req.path()) else {
            return match &self.fallback {
                Some(h) => h(req),
                None => Box::pin(async { Response::error(StatusCode::NOT_FOUND) }),
            };
        };
        let find = |m: Method| route.methods.iter().find(|(rm, _)| *rm == m);
        let handler = find(req.method()).or_else(|| match req.method() {
            Method::Head => find(Method::Get),
            _ => None,
        });
        match handler {
            Some((_, h)) => h(req),
            None => {
                let allow = allow(route);
                Box::pin(async move {
                    Response::error(StatusCode::METHOD_NOT_ALLOWED).with_header("Allow", allow)
                })
            }
        }
    }
}

/// The `Allow` value of a route: its methods, with `HEAD` where `GET` is.
fn allow(route: &Route) -> String {
    let mut methods: Vec<Method> = route.methods.iter().map(|(m, _)| *m).collect();
    if methods.contains(&Method::Get) && !methods.contains(&Method::Head) {
        methods.push(Method::Head);
    }
    let mut s = String::new();
    for (i, m) in methods.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(m.as_str());
    }
    s
}
