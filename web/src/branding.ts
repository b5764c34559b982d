// The tenant's look, by the page's host: GET /api/v1/branding gives the theme of the tenant whose
// domain this is (validated by the server: hex colours, family names, an https or data: logo), set
// here as CSS custom properties, the page's title and the brand of the top bar. On the platform's
// own host the page keeps its own look.

export interface Theme {
  name: string;
  logo: string | null;
  colours: { background: string; surface: string; text: string; muted: string; accent: string; accentText: string };
  fonts: { body: string; heading: string };
}

let current: Theme | null = null;

/** The tenant's name where its theme applies, else null. */
export function brandName(): string | null {
  return current?.name ?? null;
}

/** Applies the host's theme; a failure leaves the page's own look. */
export async function applyBranding(): Promise<void> {
  let answer: { custom: boolean; theme: Theme };
  try {
    const response = await fetch('/api/v1/branding');
    if (!response.ok) return;
    answer = (await response.json()) as { custom: boolean; theme: Theme };
  } catch {
    return;
  }
  if (!answer.custom) return;
  const theme = (current = answer.theme);
  const style = document.documentElement.style;
  const { colours, fonts } = theme;
  const properties: Record<string, string> = {
    '--bg': colours.background,
    '--panel': colours.surface,
    '--text': colours.text,
    '--muted': colours.muted,
    '--accent': colours.accent,
    '--accent-text': colours.accentText,
    '--font-body': fonts.body,
    '--font-heading': fonts.heading,
  };
  for (const [name, value] of Object.entries(properties)) style.setProperty(name, value);
  // The theme's colours may be light: the browser's own controls follow.
  style.setProperty('color-scheme', luminance(colours.background) > 0.5 ? 'light' : 'dark');
  document.title = theme.name;
  const brand = document.querySelector<HTMLAnchorElement>('.brand');
  if (brand) {
    brand.textContent = theme.name;
    if (theme.logo) {
      const logo = document.createElement('img');
      logo.src = theme.logo;
      logo.alt = '';
      brand.prepend(logo);
    }
  }
}

function luminance(hex: string): number {
  const digits = hex.length === 4 ? [...hex.slice(1)].map((d) => d + d).join('') : hex.slice(1);
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(digits.slice(i, i + 2), 16) / 255);
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}
