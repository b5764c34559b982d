/** The non-owner role that application queries run as; RLS policies apply to it. */
export const APP_ROLE = 'veza_app';
/** Transaction-local setting that RLS policies compare `tenant_id` with. */
export const TENANT_SETTING = 'veza.tenant_id';
