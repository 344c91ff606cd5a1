setInterval(() => console.log('working'), 60_000);
