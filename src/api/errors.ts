// Every error the API answers is JSON {error, message}: `error` is a stable code a script can test,
// `message` is for people. Bad input is always a 4xx; a 5xx means hv itself failed.

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (what: string): ApiError => new ApiError(404, "not_found", `no ${what}`);
export const badRequest = (message: string): ApiError => new ApiError(400, "bad_request", message);
export const conflict = (message: string): ApiError => new ApiError(409, "conflict", message);

/** The codes used for fastify's own 4xx errors. */
export function codeForStatus(status: number): string {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 406:
      return "not_acceptable";
    case 409:
      return "conflict";
    case 413:
      return "payload_too_large";
    case 414:
      return "uri_too_long";
    case 415:
      return "unsupported_media_type";
    case 429:
      return "rate_limited";
    default:
      return status >= 500 ? "internal" : "bad_request";
  }
}
