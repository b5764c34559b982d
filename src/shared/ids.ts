// Ids that travel in URLs and room names: the collaboration documents, studio sessions, media rooms
// and session bundles all use the same pattern, so a document and its rooms can share one id.

/** Document ids are one path segment: letters, digits and `._:-`. */
export const DOC_ID_PATTERN = /^[A-Za-z0-9._:-]{1,200}$/;
