//! `?page=&per_page=` parsing and the `next`/`prev` links of list answers.
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi, RefOr};

use super::error::ApiError;
use crate::config::ApiSettings;
use crate::controllers::{Page, Paged};

/// The query parameters of a list route: `?page=&per_page=`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// From 1 (the default); `page × per_page` at most `api.max_page_depth` (described
    /// from the settings by [`document_limits`]). Pages past the end are empty.
    #[param(minimum = 1)]
    pub page: Option<u64>,
    /// Objects per page (described from the settings by [`document_limits`]).
    #[param(minimum = 1)]
    pub per_page: Option<u64>,
}

impl PageQuery {
    /// Checks the bounds and fills in the defaults.
    pub fn page(&self, settings: &ApiSettings) -> Result<Page, ApiError> {
        let per_page = self.per_page.unwrap_or(settings.default_per_page);
        if per_page == 0 || per_page > settings.max_per_page {
            return Err(ApiError::bad_request(format!(
                "per_page must be between 1 and {}",
                settings.max_per_page
            )));
        }
        let number = self.page.unwrap_or(1);
        if number == 0 {
            return Err(ApiError::bad_request("page must be a positive page number"));
        }
        // The database reads and skips every row before the page: a deep page costs as
        // much as reading them all. (The bound also keeps the offset far inside SQL's
        // 64-bit integers.)
        let depth = settings.max_page_depth;
        if number.checked_mul(per_page).is_none_or(|rows| rows > depth) {
            return Err(ApiError::bad_request(format!(
                "page × per_page must be at most {depth}: lists are paged {depth} objects \
                 deep at most (at per_page={per_page}, the last page is {})",
                depth / per_page
            )));
        }
        Ok(Page { number, per_page })
    }
}

/// Documents the limits of `page` and `per_page`, as configured.
pub fn document_limits(doc: &mut OpenApi, settings: &ApiSettings) {
    let description = format!(
        "Objects per page, 1 to {} (`api.max_per_page`); {} (`api.default_per_page`) when \
         not given.",
        settings.max_per_page, settings.default_per_page
    );
    let depth = settings.max_page_depth;
    let page_description = format!(
        "From 1 (the default). Lists are paged {depth} objects deep at most \
         (`api.max_page_depth`): `page × per_page` over {depth} is a 400. Pages past the \
         end are empty."
    );
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for parameter in operation.parameters.iter_mut().flatten() {
                let RefOr::T(parameter) = parameter else {
                    continue;
                };
                let maximum = match parameter.name.as_str() {
                    "page" => {
                        parameter.description = Some(page_description.clone());
                        depth
                    }
                    "per_page" => {
                        parameter.description = Some(description.clone());
                        settings.max_per_page
                    }
                    _ => continue,
                };
                if let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() {
                    schema.maximum = Some(maximum.into());
                }
            }
        }
    }
}

/// A page of a list, with links to its neighbours.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageBody<T> {
    pub objects: Vec<T>,
    /// The next page's path and query, or null on the last page.
    pub next: Option<String>,
    /// The previous page's path and query, or null on the first page.
    pub prev: Option<String>,
}

impl<T> PageBody<T> {
    /// Formats `paged` as the answer of the list route at `path`.
    pub fn new<M>(path: &str, paged: Paged<M>, format: impl Fn(M) -> T) -> Self {
        let Page { number, per_page } = paged.page;
        let link = |n: u64| format!("{path}?page={n}&per_page={per_page}");
        Self {
            next: paged.has_next.then(|| link(number + 1)),
            prev: (number > 1).then(|| link(number - 1)),
            objects: paged.items.into_iter().map(format).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ApiSettings {
        ApiSettings {
            default_per_page: 20,
            max_per_page: 100,
            max_page_depth: 10_000,
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let page = PageQuery::default().page(&settings()).expect("valid");
        assert_eq!(
            page,
            Page {
                number: 1,
                per_page: 20
            }
        );
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        for (page, per_page) in [
            (Some(0), None),
            (None, Some(0)),
            (None, Some(101)),
            (Some(u64::MAX), Some(100)),
        ] {
            let query = PageQuery { page, per_page };
            assert!(query.page(&settings()).is_err(), "{page:?} {per_page:?}");
        }
    }

    #[test]
    fn pages_reach_max_page_depth_objects_deep_and_no_deeper() {
        let page = |page, per_page| PageQuery {
            page: Some(page),
            per_page: Some(per_page),
        };
        for (number, per_page) in [(500, 20), (100, 100), (10_000, 1)] {
            assert!(page(number, per_page).page(&settings()).is_ok(), "{number}");
        }
        for (number, per_page) in [(501, 20), (101, 100), (900_719_925_474_099, 10)] {
            let error = page(number, per_page)
                .page(&settings())
                .expect_err("too deep");
            assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST);
            let message = format!("{error:?}");
            assert!(message.contains("at most 10000"), "{message}");
        }
    }

    #[test]
    fn links_point_to_the_neighbour_pages() {
        let paged = Paged {
            items: vec![1, 2],
            page: Page {
                number: 2,
                per_page: 2,
            },
            has_next: true,
        };
        let body = PageBody::new("/v1/persons", paged, |n| n * 10);
        assert_eq!(body.objects, [10, 20]);
        assert_eq!(body.next.as_deref(), Some("/v1/persons?page=3&per_page=2"));
        assert_eq!(body.prev.as_deref(), Some("/v1/persons?page=1&per_page=2"));
    }
}
