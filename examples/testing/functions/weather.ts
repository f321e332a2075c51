// A function to unit-test: it caches an API's answer in kv for ten minutes, and its `remind`
// export answers after a timer.
import { kv } from 'fnbox:host'

interface Forecast {
  city: string
  tempC: number
  fetchedAt: string
}

export async function forecast(city: string): Promise<Forecast & { cached: boolean }> {
  const key = `forecast:${city}`
  const cached = (await kv.get(key)) as Forecast | undefined
  if (cached) return { ...cached, cached: true }
  const res = await fetch(`https://api.weather.example/v1/now?city=${encodeURIComponent(city)}`)
  if (!res.ok) throw new Error(`the weather API answered ${res.status}`)
  const { tempC } = (await res.json()) as { tempC: number }
  const value = { city, tempC, fetchedAt: new Date().toISOString() }
  await kv.set(key, value, { ttl: 600 }) // seconds
  return { ...value, cached: false }
}

export async function remind(text: string, afterMs: number): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, afterMs))
  return `${new Date().toISOString()} ${text}`
}
